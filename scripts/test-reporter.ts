// node --test reporter for `npm test`: one line per finished test file (as files finish, not at the end),
// the output of a file only when it failed (TEST_VERBOSE=1: always), then a summary that counts what really
// happened: passed, failed (with each error), skipped with its reason (a skipped describe() counts, which
// node's own summary leaves out), todo, the slowest files, and as the last line the plain count CI reads:
//   tests: 312 passed, 0 failed, 2 skipped
//
// When GLISK_TEST_SUMMARY names a file, the counts are written there as JSON and the closing line is left to
// scripts/test.ts, which prints it after tearing PostgreSQL down, so that it stays the last line.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';

/** The parts of node:test's reporter events this reporter reads (node 20.19 through 24). */
type TestEvent = {
  type: string;
  data: {
    name?: string;
    nesting?: number;
    file?: string;
    skip?: string | boolean;
    todo?: string | boolean;
    message?: string;
    details?: { duration_ms?: number; type?: string; error?: unknown; passed?: boolean };
  };
};

export type TestSummary = {
  passed: number;
  failed: number;
  cancelled: number;
  skipped: number;
  todo: number;
  files: number;
  failedFiles: number;
  /** How long each file took, by its path relative to the repository (for the order of the next run). */
  durations?: Record<string, number>;
};

type Problem = { file: string; title: string; error: unknown };

const SLOWEST_SHOWN = 5;
const ROOT = process.cwd();

const color = process.env.NO_COLOR === undefined && (process.stdout.isTTY || process.env.FORCE_COLOR === '1');
const paint = (code: number) => (text: string) => (color ? `\u001b[${code}m${text}\u001b[0m` : text);
const green = paint(32);
const red = paint(31);
const yellow = paint(33);
const dim = paint(2);

export function closingLine(summary: TestSummary): string {
  return `tests: ${summary.passed} passed, ${summary.failed + summary.cancelled} failed, ${summary.skipped} skipped`;
}

export default async function* reporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const verbose = process.env.TEST_VERBOSE === '1';
  const total = Number(process.env.GLISK_TEST_FILE_COUNT) || undefined;
  const started = performance.now();
  const outputs = new Map<string, string[]>();
  const failedFiles = new Set<string>();
  const fileDurations: Array<{ file: string; ms: number }> = [];
  const failures: Problem[] = [];
  const skips: Array<{ file: string; title: string; reason: string }> = [];
  const todos: Array<{ file: string; title: string }> = [];
  // Names of the tests still open in each file, by nesting level, to print "suite › test" titles.
  const stacks = new Map<string, string[]>();
  const summary: TestSummary = {
    passed: 0,
    failed: 0,
    cancelled: 0,
    skipped: 0,
    todo: 0,
    files: 0,
    failedFiles: 0,
  };

  const fileOf = (data: TestEvent['data']) => relative(data.file ?? '(no file)');
  const outputOf = (file: string) => {
    let output = outputs.get(file);
    if (!output) {
      output = [];
      outputs.set(file, output);
    }
    return output;
  };

  for await (const event of source) {
    const { data } = event;
    switch (event.type) {
      case 'test:start': {
        const stack = stacks.get(fileOf(data)) ?? [];
        stack.length = data.nesting ?? 0;
        stack.push(data.name ?? '');
        stacks.set(fileOf(data), stack);
        break;
      }
      case 'test:stdout':
      case 'test:stderr': {
        const file = fileOf(data);
        if (verbose) yield `${dim(`${file}:`)} ${data.message ?? ''}`;
        else outputOf(file).push(data.message ?? '');
        break;
      }
      case 'test:pass':
      case 'test:fail': {
        const file = fileOf(data);
        const kind = failureType(data.details?.error);
        // A parent fails when a child failed: the child is the one counted.
        if (event.type === 'test:fail' && kind === 'subtestsFailed') break;
        if (isFileItself(data)) {
          // node reports a file as a test of its own only when it failed outside any test (it threw at load
          // time, exited early, or its process was killed).
          if (event.type === 'test:fail') {
            summary.failed += 1;
            failures.push({ file, title: '(the file itself, outside any test)', error: data.details?.error });
          }
          break;
        }
        const title = titleOf(stacks.get(file), data);
        if (data.skip !== undefined && data.skip !== false) {
          summary.skipped += 1;
          skips.push({ file, title, reason: typeof data.skip === 'string' ? data.skip : 'no reason given' });
        } else if (data.todo !== undefined && data.todo !== false) {
          summary.todo += 1;
          todos.push({ file, title });
        } else if (event.type === 'test:fail') {
          if (kind === 'cancelledByParent') summary.cancelled += 1;
          else summary.failed += 1;
          failures.push({ file, title, error: data.details?.error });
        } else if (data.details?.type !== 'suite') {
          summary.passed += 1;
        }
        break;
      }
      case 'test:complete': {
        // The file's own completion comes as its process exits, in the order files finish. Its tests' events
        // may still be on their way (node forwards a file's events in order), so this line says only how
        // the file ended and how long it took; the counts are in the summary.
        if (!isFileItself(data)) break;
        const file = fileOf(data);
        const ms = data.details?.duration_ms ?? 0;
        const ok = data.details?.passed !== false;
        summary.files += 1;
        fileDurations.push({ file, ms });
        if (!ok) {
          summary.failedFiles += 1;
          failedFiles.add(file);
        }
        const progress = total ? `[${String(summary.files).padStart(String(total).length)}/${total}]` : '';
        yield `${progress ? `${progress} ` : ''}${ok ? green('ok  ') : red('FAIL')} ${file} ${dim(seconds(ms))}\n`;
        break;
      }
      default:
        break;
    }
  }

  const lines: string[] = [''];
  const withOutput = [...failedFiles].filter((file) => (outputs.get(file) ?? []).join('').trim() !== '');
  if (withOutput.length > 0) lines.push(red('Output of the failed files:'));
  for (const file of withOutput) {
    lines.push(indent(`output of ${file}:\n${(outputs.get(file) ?? []).join('')}`, '  ').trimEnd());
  }
  if (failures.length > 0) {
    lines.push(red(`Failed (${failures.length}):`));
    for (const { file, title, error } of failures) {
      lines.push(`  ${red('✗')} ${file} › ${title}`);
      lines.push(indent(describeError(error), '      '));
    }
  }
  if (skips.length > 0) {
    lines.push(yellow(`Skipped (${skips.length}):`));
    for (const { file, title, reason } of skips) lines.push(`  - ${file} › ${title}: ${reason}`);
  }
  if (todos.length > 0) {
    lines.push(`Todo (${todos.length}):`);
    for (const { file, title } of todos) lines.push(`  - ${file} › ${title}`);
  }
  const slowest = fileDurations.sort((a, b) => b.ms - a.ms).slice(0, SLOWEST_SHOWN);
  if (slowest.length > 0) {
    lines.push(`Slowest files:`);
    for (const { file, ms } of slowest) lines.push(`  ${seconds(ms).padStart(7)}  ${file}`);
  }
  const parts = [
    green(`${summary.passed} passed`),
    summary.failed > 0 ? red(`${summary.failed} failed`) : `${summary.failed} failed`,
    summary.cancelled > 0 ? red(`${summary.cancelled} cancelled`) : '',
    summary.skipped > 0 ? yellow(`${summary.skipped} skipped`) : `${summary.skipped} skipped`,
    summary.todo > 0 ? `${summary.todo} todo` : '',
  ].filter(Boolean);
  lines.push(
    `${summary.files} files (${summary.failedFiles} failed): ${parts.join(', ')} in ${seconds(performance.now() - started)}`,
  );
  yield `${lines.join('\n')}\n`;

  const summaryFile = process.env.GLISK_TEST_SUMMARY;
  const durations = Object.fromEntries(fileDurations.map(({ file, ms }) => [file, Math.round(ms)]));
  if (summaryFile) writeFileSync(summaryFile, JSON.stringify({ ...summary, durations }));
  else yield `${closingLine(summary)}\n`;
}

/**
 * The test node creates for each file run in its own process is named after the file: its absolute path on
 * node 20, the path as given on the command line on node 22 and later.
 */
function isFileItself(data: TestEvent['data']): boolean {
  if (data.nesting !== 0 || data.file === undefined || data.name === undefined) return false;
  return data.name === data.file || path.resolve(data.name) === path.resolve(data.file);
}

function titleOf(stack: string[] | undefined, data: TestEvent['data']): string {
  const nesting = data.nesting ?? 0;
  const parents = (stack ?? []).slice(0, nesting);
  return [...parents, data.name ?? ''].join(' › ');
}

function failureType(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'failureType' in error) {
    return String(error.failureType);
  }
  return undefined;
}

/** node wraps the thrown error in an ERR_TEST_FAILURE whose cause is what the test threw. */
function describeError(error: unknown): string {
  const cause =
    typeof error === 'object' && error !== null && 'cause' in error && error.cause !== undefined
      ? error.cause
      : error;
  return inspect(cause, { depth: 4, colors: color, breakLength: 100 })
    .split('\n')
    .filter((line) => !/^\s+at (.*\()?(async )?node:[^)]*\)?$/.test(line))
    .join('\n');
}

function relative(file: string): string {
  return path.isAbsolute(file) ? path.relative(ROOT, file) : file;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function indent(text: string, prefix = '    '): string {
  return `${text
    .trimEnd()
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n')}\n`;
}
