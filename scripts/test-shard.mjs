// One long-lived test process of `npm test` (started by scripts/test-files.mjs with --import tsx and
// scripts/test-shard-reporter.mjs as its node:test reporter): it runs the test files it is sent, one at a time,
// in this process. Loading tsx and the modules the tests share (the app, drizzle, viem, hardhat...) is then paid
// once per shard instead of once per file: through tsx's hooks that is ~1.3 s of CPU per file.
//
// Each file runs inside a describe() named after it, so that its top-level tests and hooks (before/after) belong
// to that file alone and run in its order, and node:test reports the file as one suite whose end says the file
// is done. The next file is sent once the previous one has been reported.
import { Buffer } from 'node:buffer';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { describe } from 'node:test';
import { pathToFileURL } from 'node:url';

/** tests/helpers/between-files.ts: what each file must find as in a fresh process (loaded with the first file). */
let betweenFiles;
const timeout = Number(process.env.GLISK_TEST_TIMEOUT_MS) || Infinity;

// What the tests print goes to scripts/test-files.mjs on the same channel as the events, so it reaches the file
// that printed it in order (the reporter shows it for failed files). Child processes with inherited stdio still
// write to this process's pipes, which scripts/test-files.mjs reads too.
for (const name of ['stdout', 'stderr']) {
  const stream = process[name];
  stream.write = (chunk, encoding, callback) => {
    const message = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    if (message !== '' && process.connected) process.send({ type: 'output', stream: name, message });
    (typeof encoding === 'function' ? encoding : callback)?.();
    return true;
  };
}

process.on('message', (message) => {
  if (message?.type === 'file') {
    const file = message.file;
    // The file's own time limit, as `node --test` gives each file: its remaining tests are cancelled (and
    // failed); scripts/test-files.mjs then retires this process, whose state may be left anywhere.
    const cpu = process.cpuUsage();
    void describe(file, { timeout }, async () => {
      betweenFiles ??= await import('../tests/helpers/between-files.ts');
      betweenFiles.resetBetweenFiles();
      await import(pathToFileURL(path.resolve(file)).href);
    }).finally(() => {
      // TEST_CPU_LOG=<file>: the CPU this process spent on each file (its own, not its children's), for profiling.
      if (process.env.TEST_CPU_LOG) {
        const { user, system } = process.cpuUsage(cpu);
        const line = `${JSON.stringify({ file, cpuMs: Math.round((user + system) / 1000) })}\n`;
        appendFileSync(process.env.TEST_CPU_LOG, line);
      }
    });
  } else if (message?.type === 'done') {
    // No more files: let the process end once what the tests left (pools, servers) is closed; the parent
    // ends it if something keeps it alive.
    process.disconnect();
  }
});
process.send?.({ type: 'ready' });
