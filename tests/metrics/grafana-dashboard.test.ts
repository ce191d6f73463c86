// The provisioned Grafana dashboard queries only metrics the service exports: every expression of every panel
// is parsed with Prometheus's own PromQL grammar (@prometheus-io/lezer-promql), and each metric it selects must
// be registered in src/metrics/registry.ts (histogram series by their _bucket/_sum/_count names).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parser } from '@prometheus-io/lezer-promql';
import type { Database } from '../../src/db/client.js';
import { registerPipelineGauges } from '../../src/metrics/pipeline-gauges.js';
import { registerPoolGauges } from '../../src/metrics/pool-gauges.js';
import { initMetrics, metricsRegistry } from '../../src/metrics/registry.js';
import { REPO_ROOT } from '../helpers/http.js';

type Panel = { title: string; targets?: { expr: string }[] };

function selectedMetrics(expr: string): string[] {
  const names: string[] = [];
  const tree = parser.parse(expr);
  tree.iterate({
    enter: (node) => {
      assert.ok(!node.type.isError, `PromQL syntax error at ${node.from} in: ${expr}`);
      if (node.type.name !== 'VectorSelector') return;
      const identifier = node.node.getChild('Identifier');
      if (identifier) names.push(expr.slice(identifier.from, identifier.to));
    },
  });
  return names;
}

async function exportedSeriesNames(): Promise<Set<string>> {
  initMetrics('dashboard-test');
  // Registered by createApp for its database: registered here with a database that is never reached (the
  // token gauges keep no snapshot when their read fails; the pool gauges read a pool it does not have).
  const unreachable = {
    db: { execute: () => Promise.reject(new Error('no database in this test')) },
    sql: {},
  } as unknown as Database;
  registerPipelineGauges(unreachable, { refreshMs: 60_000 });
  registerPoolGauges(unreachable);
  const names = new Set<string>();
  for (const metric of await metricsRegistry().getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram')
      for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

describe('Grafana dashboard', () => {
  const file = path.join(REPO_ROOT, 'monitoring/grafana/dashboards/glisk.json');
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { uid: string; panels: Panel[] };

  it('queries only metrics the service exports', async () => {
    const exported = await exportedSeriesNames();
    let queried = 0;
    for (const panel of dashboard.panels) {
      assert.ok(panel.targets?.length, `panel "${panel.title}" has queries`);
      for (const target of panel.targets) {
        const names = selectedMetrics(target.expr);
        assert.ok(names.length > 0, `"${panel.title}": ${target.expr} selects a metric`);
        for (const name of names) {
          queried += 1;
          assert.ok(
            exported.has(name),
            `"${panel.title}" queries ${name}, which the service does not export`,
          );
        }
      }
    }
    assert.ok(queried >= 10);
  });

  it('the grammar catches an unknown metric and a syntax error (the check can fail)', async () => {
    const exported = await exportedSeriesNames();
    assert.deepEqual(selectedMetrics('rate(glisk_no_such_metric_total[5m])'), ['glisk_no_such_metric_total']);
    assert.equal(exported.has('glisk_no_such_metric_total'), false);
    assert.throws(() => selectedMetrics('sum(rate(glisk_tokens[5m])'), /syntax error/);
  });
});
