// The test files of `npm test` in the order scripts/test.ts chose (the longest first, so that the run does not end
// waiting on one long file), through node:test's run(): `node --test` sorts its files by name, whatever order
// they are given in. Each file still runs in its own process (with this process's --import tsx), as under
// `node --test`. Settings come from scripts/test.ts in the environment; the exit status is 1 when a test failed.
import process from 'node:process';
import { run } from 'node:test';
import reporter from './test-reporter.mjs';

const files = JSON.parse(process.env.GLISK_TEST_FILES ?? '[]');
// A signal (scripts/test.ts passes Ctrl-C on) stops the files still running, as `node --test` does.
const interrupt = new globalThis.AbortController();
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    process.exitCode = 1;
    interrupt.abort();
  });
}
const stream = run({
  files,
  concurrency: Number(process.env.GLISK_TEST_CONCURRENCY) || true,
  timeout: Number(process.env.GLISK_TEST_TIMEOUT_MS) || Infinity,
  signal: interrupt.signal,
});
stream.on('test:fail', () => {
  process.exitCode = 1;
});
stream.compose(reporter).pipe(process.stdout);
