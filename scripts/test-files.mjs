// The test files of `npm test` in the order scripts/test.ts chose (the longest first, so that the run does not end
// waiting on one long file), in GLISK_TEST_CONCURRENCY shard processes (scripts/test-shard.mjs): each loads tsx
// and what the tests share once and runs the files it is given one after the other, each file inside a
// describe() of its own. A file whose first lines say `// npm test: own process (<why>)` gets a fresh process of
// its own, as do the files after one that timed out or crashed its shard. The events of all shards go to the
// one reporter (scripts/test-reporter.ts); settings come from scripts/test.ts in the environment; the exit status
// is 1 when a test failed.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import reporter from './test-reporter.mjs';

const ROOT = path.resolve(import.meta.dirname, '..');
const SHARD = path.join(ROOT, 'scripts', 'test-shard.mjs');
const SHARD_REPORTER = path.join(ROOT, 'scripts', 'test-shard-reporter.mjs');
/** How a test file asks for a process of its own (in its first 2 KB), e.g. when it changes process-wide state. */
export const OWN_PROCESS_MARK = '// npm test: own process';
/** After its last file, how long a shard may take to end by itself (open handles) before it is stopped. */
const EXIT_GRACE_MS = 10_000;
/** Past the file's own time limit (its describe's timeout), how long before its shard is stopped. */
const STUCK_MARGIN_MS = 10_000;

const files = JSON.parse(process.env.GLISK_TEST_FILES ?? '[]');
const concurrency = Math.max(1, Number(process.env.GLISK_TEST_CONCURRENCY) || 4);
const timeoutMs = Number(process.env.GLISK_TEST_TIMEOUT_MS) || 0;

/** The events of every shard, in the order they arrive, for the reporter. */
const events = channel();
const queue = [...files];
let interrupted = false;
const shards = new Set();

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    interrupted = true;
    process.exitCode = 1;
    queue.length = 0;
    for (const shard of shards) shard.kill(signal);
  });
}

const output = reporter(events.iterable);
const printing = (async () => {
  for await (const chunk of output) process.stdout.write(chunk);
})();

// Half the places take the longest file left, the other half the shortest, so that the long files (which start
// processes of their own and keep the CPU busy) do not all run at once: on a loaded machine four of them
// sharing the CPU reached their time limit together. The short files fill the other places meanwhile.
await Promise.all(
  Array.from({ length: Math.min(concurrency, queue.length) }, (_, i) =>
    slot(i % 2 === 0 ? 'longest' : 'shortest'),
  ),
);
events.close();
await printing;

/** One of the `concurrency` places a file runs in: takes files from the queue (longest first) until it is empty. */
async function slot(which) {
  let shard;
  while (queue.length > 0 && !interrupted) {
    const file = which === 'longest' ? queue.shift() : queue.pop();
    if (ownProcess(file)) {
      // A process for this file alone; the place's shard (and the modules it has loaded) waits for the next.
      const own = startShard();
      await own.run(file);
      await own.finish();
      continue;
    }
    shard ??= startShard();
    const healthy = await shard.run(file);
    if (!healthy) {
      await shard.finish();
      shard = undefined;
    }
  }
  await shard?.finish();
}

function ownProcess(file) {
  let fd;
  try {
    fd = openSync(path.resolve(ROOT, file), 'r');
    const head = Buffer.alloc(2048);
    const length = readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, length).toString('utf8').includes(OWN_PROCESS_MARK);
  } catch {
    return false; // the shard's import reports what is wrong with the file
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function startShard() {
  const child = spawn(process.execPath, ['--import', 'tsx', `--test-reporter=${SHARD_REPORTER}`, SHARD], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    serialization: 'advanced',
    env: process.env,
  });
  shards.add(child);
  let current; // { file, started, done(healthy) }
  const ran = [];
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      shards.delete(child);
      resolve({ code, signal });
    });
  });
  const ready = new Promise((resolve) => {
    child.once('message', resolve);
    void exited.then(resolve);
  });
  for (const stream of ['stdout', 'stderr']) {
    child[stream].setEncoding('utf8').on('data', (message) => {
      // One file at a time per shard: what the process writes belongs to the file it runs.
      if (current) events.push({ type: `test:${stream}`, data: { file: current.file, message } });
    });
  }
  child.on('message', (message) => {
    if (message?.type === 'output' && current) {
      events.push({ type: `test:${message.stream}`, data: { file: current.file, message: message.message } });
      return;
    }
    if (message?.type !== 'event' || !current) return;
    const { event } = message;
    const { data } = event;
    data.file = current.file;
    if (data.details?.error) {
      try {
        data.details.error = reviveError(data.details.error);
      } catch {
        // Whatever the error held, the run goes on: its text is enough to report it.
        data.details.error = `${data.details.error.stack ?? data.details.error.message ?? '(no message)'}`;
      }
    }
    if (data.nesting === 0) {
      if (event.type === 'test:complete') {
        // The file's time from the parent's view: its import included.
        data.details = { ...data.details, duration_ms: performance.now() - current.started };
        current.timedOut = failureTypeOf(data.details.error) === 'testTimeoutFailure';
      }
      events.push(event);
      // The file's own pass/fail is its last event: the shard is free for the next file.
      if (event.type === 'test:pass' || event.type === 'test:fail') current.done(!current.timedOut);
      return;
    }
    if (event.type === 'test:diagnostic') {
      if (/generated asynchronous activity after the test ended/.test(data.message ?? '')) {
        current.lateErrors.push(data.message);
      }
      return;
    }
    // Inside the file's describe(): one level deeper than node --test reports a file's tests.
    data.nesting -= 1;
    events.push(event);
  });

  return {
    /** Runs one file; false when the shard should not be given another (it crashed or the file timed out). */
    async run(file) {
      await ready;
      if (child.exitCode !== null || child.signalCode !== null) return failFile(file, exited);
      const started = performance.now();
      const finished = new Promise((resolve) => {
        current = { file, started, lateErrors: [], timedOut: false, done: resolve };
      });
      child.send({ type: 'file', file });
      ran.push(file);
      // Beyond the file's own limit (the describe's timeout), a shard that never reports is ended.
      let timer;
      const stuck = new Promise((resolve) => {
        if (timeoutMs > 0) timer = setTimeout(() => resolve('stuck'), timeoutMs + STUCK_MARGIN_MS);
      });
      const outcome = await Promise.race([finished, exited.then(() => 'exited'), stuck]);
      clearTimeout(timer);
      const { lateErrors } = current;
      current = undefined;
      if (outcome === 'exited' || outcome === 'stuck') {
        // SIGTERM first: the process's exit handlers stop what it started (embedded PostgreSQL, children).
        if (outcome === 'stuck') stop();
        return failFile(file, exited, started, outcome);
      }
      if (lateErrors.length > 0) {
        pushFileFailure(file, new Error(lateErrors.join('\n')), performance.now() - started, false);
      }
      return outcome;
    },
    /** No more files: the shard ends by itself, or is stopped after a grace period. */
    async finish() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.send({ type: 'done' });
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(resolve, EXIT_GRACE_MS, 'late');
      });
      if ((await Promise.race([exited, late])) === 'late') {
        // Something a file left open (a pool, a server, a timer) keeps it alive: say which files ran there.
        process.stderr.write(
          `test: a test process still ran ${EXIT_GRACE_MS / 1000} s after its last file (something left open ` +
            `by one of: ${ran.join(', ')}); stopped\n`,
        );
        await stop();
      }
      clearTimeout(timer);
    },
  };

  async function stop() {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  }

  async function failFile(file, exitedPromise, started = performance.now(), outcome = 'exited') {
    const { code, signal } = await exitedPromise;
    const why =
      outcome === 'stuck'
        ? `the file did not end within ${timeoutMs + STUCK_MARGIN_MS} ms; its process was stopped`
        : `its test process exited (${signal ?? `code ${code}`}) before the file ended`;
    pushFileFailure(file, new Error(why), performance.now() - started, true);
    return false;
  }
}

/** The file as failed outside any test, as node reports a file whose process died. */
function pushFileFailure(file, error, ms, withCompletion) {
  const data = { name: file, nesting: 0, file };
  if (withCompletion) {
    events.push({ type: 'test:complete', data: { ...data, details: { duration_ms: ms, passed: false } } });
  }
  events.push({ type: 'test:fail', data: { ...data, details: { error } } });
}

/** An error sent by scripts/test-shard-reporter.mjs, as an Error again (for the reporter's printing). */
function reviveError(plain) {
  if (!plain?.error) return plain?.value;
  const error = new Error(plain.message);
  Object.defineProperty(error, 'name', {
    value: plain.name,
    enumerable: false,
    configurable: true,
    writable: true,
  });
  error.stack = plain.stack;
  for (const [key, value] of Object.entries(plain.fields ?? {})) {
    // Own fields as the error had them (an error class may set its name as an own field too).
    Object.defineProperty(error, key, { value, enumerable: true, configurable: true, writable: true });
  }
  if (plain.cause !== undefined) error.cause = reviveError(plain.cause);
  return error;
}

function failureTypeOf(error) {
  return error && typeof error === 'object' && 'failureType' in error ? error.failureType : undefined;
}

/** A queue read as an async iterable: push() from the shards, the reporter reads. */
function channel() {
  const items = [];
  let wake;
  let closed = false;
  return {
    push(item) {
      if (item.type === 'test:fail') process.exitCode = 1;
      items.push(item);
      wake?.();
    },
    close() {
      closed = true;
      wake?.();
    },
    iterable: (async function* () {
      for (;;) {
        while (items.length > 0) yield items.shift();
        if (closed) return;
        await new Promise((resolve) => {
          wake = resolve;
        });
        wake = undefined;
      }
    })(),
  };
}
