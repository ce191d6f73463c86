// Reading the process's Prometheus metrics in tests: one series' value, and how much named series grew between
// two moments (the registry is the process's, shared by every test of a file, so tests compare differences).
import assert from 'node:assert/strict';
import { metricsRegistry } from '../../src/metrics/registry.js';

/**
 * The value of one series, summed over the series matching `labels` (0 when none exists yet). A histogram's
 * name reads its `_count`; `<name>_sum` and `<name>_count` read those.
 */
export async function readMetric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const family = name.replace(/_(sum|count)$/, '');
  const metric = metricsRegistry().getSingleMetric(name) ?? metricsRegistry().getSingleMetric(family);
  assert.ok(metric, `${name} is registered`);
  const { values } = await metric.get();
  const wanted = Object.entries(labels);
  let total = 0;
  for (const sample of values) {
    const sampleName = (sample as { metricName?: string }).metricName ?? name;
    if (sampleName !== name && sampleName !== `${name}_count`) continue;
    const sampleLabels = sample.labels as Record<string, unknown>;
    if (wanted.every(([key, value]) => String(sampleLabels[key]) === value)) total += sample.value;
  }
  return total;
}

/** Reads every named series now; the answer, called later, gives how much each grew since. */
export async function metricDeltas(series: Record<string, [string, Record<string, string>]>) {
  const before = new Map<string, number>();
  for (const [key, [name, labels]] of Object.entries(series)) before.set(key, await readMetric(name, labels));
  return async () => {
    const delta: Record<string, number> = {};
    for (const [key, [name, labels]] of Object.entries(series)) {
      delta[key] = (await readMetric(name, labels)) - (before.get(key) ?? 0);
    }
    return delta;
  };
}
