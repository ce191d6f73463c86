// The node:test reporter of a shard process (scripts/test-shard.mjs): it prints nothing and sends every event to
// scripts/test-files.mjs over the IPC channel, where the one reporter of the run (scripts/test-reporter.ts) reads
// the events of all shards. Errors are sent as plain data (the IPC channel's structured clone keeps an Error's
// message and stack but drops its other fields: failureType, code, cause, actual/expected) and rebuilt there
// (reviveError in scripts/test-files.mjs).
import process from 'node:process';
import { inspect } from 'node:util';

const FORWARDED = new Set(['test:start', 'test:pass', 'test:fail', 'test:complete', 'test:diagnostic']);

export default async function* forward(source) {
  for await (const event of source) {
    if (!FORWARDED.has(event.type) || !process.connected) continue;
    const { data } = event;
    const details = data.details && {
      duration_ms: data.details.duration_ms,
      type: data.details.type,
      passed: data.details.passed,
      error: data.details.error === undefined ? undefined : plainError(data.details.error),
    };
    process.send({
      type: 'event',
      event: {
        type: event.type,
        data: {
          name: data.name,
          nesting: data.nesting,
          file: data.file,
          skip: data.skip,
          todo: data.todo,
          message: data.message,
          details,
        },
      },
    });
  }
  yield '';
}

/** An error (and its causes) as data that survives the structured clone. */
function plainError(error, depth = 0) {
  if (!(error instanceof Error) || depth > 4) return { value: cloneable(error) };
  const fields = {};
  for (const key of Object.keys(error)) {
    if (key !== 'cause') fields[key] = cloneable(error[key]);
  }
  return {
    error: true,
    name: error.name,
    message: error.message,
    stack: error.stack,
    fields,
    cause: 'cause' in error ? plainError(error.cause, depth + 1) : undefined,
  };
}

function cloneable(value) {
  try {
    return globalThis.structuredClone(value);
  } catch {
    return inspect(value, { depth: 4 });
  }
}
