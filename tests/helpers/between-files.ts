// What a test file leaves in its process that the next file must not see. npm test runs many files one after
// the other in each of its shard processes (scripts/test-shard.mjs), which calls this before each file, so that
// a file starts as in a fresh process. A file that changes other process-wide state (process handlers, the
// order modules load in, globals) asks for a process of its own instead: `// npm test: own process (why)`
// in its first lines.
import { metricsRegistry } from '../../src/metrics/registry.js';

export function resetBetweenFiles(): void {
  // The process's one Prometheus registry: the series (and their instance label) earlier files created.
  const registry = metricsRegistry();
  registry.resetMetrics();
  registry.setDefaultLabels({});
}
