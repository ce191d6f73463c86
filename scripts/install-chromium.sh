#!/usr/bin/env bash
# Installs Debian's chromium package for the browser check of the API docs (tests/http/docs-browser.test.ts,
# which skips with a message when /usr/bin/chromium is absent). .ci/run calls this before the tests.
set -euo pipefail

if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then
  echo "Usage: scripts/install-chromium.sh   installs /usr/bin/chromium with apt-get (root or sudo); no-op when present"
  exit 0
fi

if [[ -x /usr/bin/chromium ]]; then
  echo "install-chromium: already installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
  exit 0
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
  if ! command -v sudo >/dev/null; then
    echo "install-chromium: needs root (or sudo) to run apt-get" >&2
    exit 1
  fi
  SUDO="sudo"
fi

echo "install-chromium: apt-get install chromium (about a minute)..."
$SUDO apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium >/dev/null
echo "install-chromium: installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
