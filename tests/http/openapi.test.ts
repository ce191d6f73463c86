// /openapi.json is a valid OpenAPI 3.1 document listing every route; /docs and /redoc are HTML pages whose
// assets all come from this server.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { routeFactories } from '../../src/http/routes/index.js';
import { startTestApp, type TestApp } from '../helpers/http.js';

type Operation = {
  operationId?: string;
  responses: Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;
};
type Document = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

const METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'];

let app: TestApp;
let document: Document;
before(async () => {
  app = await startTestApp();
  const res = await fetch(`${app.url}/openapi.json`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  document = (await res.json()) as Document;
});
after(() => app.close());

describe('/openapi.json', () => {
  it('validates against the OpenAPI 3.1 schema', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(document));
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 2));
    assert.equal(validator.version, '3.1');
    assert.equal(document.openapi, '3.1.0');
  });

  it('lists every route the app serves, and nothing else', () => {
    const routes = routeFactories.flatMap((factory) =>
      factory({ config: app.config, logger: app.logs.logger, database: app.database }),
    );
    const served = routes.map((r) => `${r.method} ${r.path}`).sort();
    const documented = Object.entries(document.paths)
      .flatMap(([path, item]) =>
        Object.keys(item)
          .filter((k) => METHODS.includes(k))
          .map((m) => `${m} ${path}`),
      )
      .sort();
    assert.deepEqual(documented, served);
    assert.ok(served.includes('get /health'));
  });

  it('documents every answer, errors included, with named schemas', () => {
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const where = `${method} ${path}`;
        assert.ok(operation.operationId, `${where} has an operationId`);
        assert.ok(!operationIds.has(operation.operationId), `${where}: operationId is unique`);
        operationIds.add(operation.operationId);
        const statuses = Object.keys(operation.responses);
        assert.ok(
          // A browser-facing route (the OAuth callback) succeeds with a redirect.
          statuses.some((s) => s.startsWith('2') || s === '302'),
          `${where} documents its success`,
        );
        for (const status of ['500', '503']) {
          assert.ok(operation.responses[status], `${where} documents ${status}`);
        }
        const internal = operation.responses['500']?.content?.['application/json']?.schema?.$ref;
        assert.equal(internal, '#/components/schemas/ErrorResponse', `${where}: 500 uses the envelope`);
      }
    }
    assert.ok(document.components.schemas.ErrorResponse);
    assert.ok(document.components.schemas.HealthHealthy);
    assert.ok(document.components.schemas.HealthUnhealthy);
    const health = document.paths['/health']?.get;
    assert.equal(
      health?.responses['503']?.content?.['application/json']?.schema?.$ref,
      '#/components/schemas/HealthUnhealthy',
    );
  });
});

/** The src/href of every <script>/<link> of a page. */
function assetUrls(html: string): string[] {
  const urls: string[] = [];
  for (const match of html.matchAll(/<(?:script|link|img)\b[^>]*?\s(?:src|href)=["']([^"']+)["']/gi)) {
    if (match[1]) urls.push(match[1]);
  }
  return urls;
}

function assertLocal(urls: string[], page: string): void {
  for (const url of urls) {
    assert.doesNotMatch(url, /^(?:[a-z]+:)?\/\//i, `${page} loads ${url} from elsewhere`);
  }
}

describe('/docs (Swagger UI)', () => {
  it('/docs redirects to /docs/ so that its relative assets resolve', async () => {
    const res = await fetch(`${app.url}/docs`, { redirect: 'manual' });
    assert.equal(res.status, 301);
    assert.equal(res.headers.get('location'), '/docs/');
  });

  it('serves HTML whose every asset is local and answers 200, under a same-origin CSP', async () => {
    const res = await fetch(`${app.url}/docs/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await res.text();
    const urls = assetUrls(html);
    assert.ok(
      urls.some((u) => u.includes('swagger-ui-bundle.js')),
      'loads the Swagger UI bundle',
    );
    assert.ok(urls.some((u) => u.includes('swagger-ui-init.js')));
    assertLocal(urls, '/docs/');
    for (const url of urls) {
      const asset = await fetch(new URL(url, `${app.url}/docs/`));
      assert.equal(asset.status, 200, url);
      await asset.arrayBuffer();
    }
    const init = await (await fetch(`${app.url}/docs/swagger-ui-init.js`)).text();
    assert.match(init, /"validatorUrl": null/, 'no validator badge from an outside service');
    assert.match(init, /"\/health"/, 'the document is embedded');
  });
});

describe('/redoc (ReDoc)', () => {
  it('serves HTML that loads the local ReDoc bundle and the local document', async () => {
    const res = await fetch(`${app.url}/redoc`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /img-src 'self' data:/);
    const html = await res.text();
    assert.match(html, /<redoc spec-url="\/openapi\.json">/);
    const urls = assetUrls(html);
    assert.deepEqual(urls, ['/redoc/redoc.standalone.js']);
    assertLocal(urls, '/redoc');
    const bundle = await fetch(`${app.url}/redoc/redoc.standalone.js`);
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get('content-type') ?? '', /javascript/);
    assert.ok((await bundle.arrayBuffer()).byteLength > 100_000);
  });
});
