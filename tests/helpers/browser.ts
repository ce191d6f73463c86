// Headless Chromium for the browser tests: Debian's package (scripts/install-chromium.sh), driven by
// playwright-core, with the flags that keep it from reaching out on a closed network.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** false when Chromium is installed, else the reason to give node:test's `skip`. */
export const chromiumMissing: false | string = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is missing: install it with scripts/install-chromium.sh (apt-get install -y chromium)`;

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, timeout: 30_000 });
}

/**
 * One Chromium for the tests of a file (a launch costs ~0.5-0.8 s of CPU over its processes): launched at the first
 * get(); close() in the file's after(). A describe that is done with it closes its own pages' contexts.
 */
export function sharedChromium(): { get: () => Promise<Browser>; close: () => Promise<void> } {
  let browser: Promise<Browser> | undefined;
  return {
    get: () => (browser ??= launchChromium()),
    close: async () => {
      const launched = await browser?.catch(() => undefined);
      browser = undefined;
      await launched?.close();
    },
  };
}

/** Closes the contexts (and so the pages) opened in `browser`, which stays up for the next tests. */
export async function closePages(browser: Browser | undefined): Promise<void> {
  await Promise.all(browser?.contexts().map((context) => context.close()) ?? []);
}
