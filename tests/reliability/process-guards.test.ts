// Issue 13.1: the one documented decision on errors nobody caught (src/lib/process-guards.ts): an unhandled
// rejection is logged and the service lives; an uncaught exception is logged and the process exits 1.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { installProcessGuards } from '../../src/lib/process-guards.js';
import { captureLogs } from '../helpers/logs.js';

test('an unhandled rejection is logged with its stack and the process keeps running', () => {
  const logs = captureLogs();
  const exits: number[] = [];
  const guards = installProcessGuards(logs.logger, (code) => exits.push(code));
  try {
    assert.ok(process.listeners('unhandledRejection').includes(guards.onUnhandledRejection));
    const lost = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01',
    });
    guards.onUnhandledRejection(lost);
    assert.deepEqual(exits, []);
    const line = logs.lines.find((l) => l.message === 'process.unhandled_rejection');
    assert.ok(line, logs.text());
    assert.equal(line.level, 'error');
    const error = line.error as { code?: string; stack?: string };
    assert.equal(error.code, '57P01');
    assert.match(error.stack ?? '', /administrator command/);
  } finally {
    guards.uninstall();
  }
  assert.ok(!process.listeners('unhandledRejection').includes(guards.onUnhandledRejection));
});

test('an uncaught exception is logged and the process exits 1', () => {
  const logs = captureLogs();
  const exits: number[] = [];
  const guards = installProcessGuards(logs.logger, (code) => exits.push(code));
  try {
    assert.ok(process.listeners('uncaughtException').includes(guards.onUncaughtException));
    guards.onUncaughtException(new TypeError('x is undefined'));
    assert.deepEqual(exits, [1]);
    assert.ok(logs.lines.some((l) => l.message === 'process.uncaught_exception' && l.level === 'error'));
  } finally {
    guards.uninstall();
  }
});
