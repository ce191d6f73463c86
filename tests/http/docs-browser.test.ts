// A real browser opens the docs: headless Chromium (the Debian package) driven by playwright-core renders
// /docs and /redoc from this server alone and lists the API's operations.
// Needs /usr/bin/chromium: scripts/install-chromium.sh installs it (.ci/run does).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { chromiumMissing, launchChromium } from '../helpers/browser.js';
import { startTestApp, type TestApp } from '../helpers/http.js';

const skip = chromiumMissing;
if (skip) console.log(`# docs-browser: skipped: ${skip}`);

describe('the docs in headless Chromium', { skip }, () => {
  let app: TestApp;
  let browser: Browser;
  before(async () => {
    app = await startTestApp();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  type Recorded = { requested: string[]; blocked: Map<string, string> };

  /** Opens a page recording every URL the browser asks for, and the ones it refused to fetch (and why). */
  async function open(path: string): Promise<{ page: Page } & Recorded> {
    const page = await browser.newPage();
    const requested: string[] = [];
    const blocked = new Map<string, string>();
    page.on('request', (request) => requested.push(request.url()));
    page.on('requestfailed', (request) => blocked.set(request.url(), request.failure()?.errorText ?? ''));
    await page.goto(`${app.url}${path}`, { waitUntil: 'load', timeout: 20_000 });
    return { page, requested, blocked };
  }

  /** Nothing left the machine: every request went to this server, or the page's CSP stopped it in the browser. */
  function assertOnlyLocal({ requested, blocked }: Recorded): void {
    const outside = requested.filter(
      (url) => !url.startsWith(`${app.url}/`) && !url.startsWith('data:') && !url.startsWith('blob:'),
    );
    for (const url of outside) {
      assert.equal(blocked.get(url), 'csp', `${url} was not blocked by the Content-Security-Policy`);
    }
  }

  it('Swagger UI at /docs lists the operations of the API', async () => {
    const { page, ...recorded } = await open('/docs');
    await page.waitForSelector('.opblock', { timeout: 20_000 });
    const methods = await page.locator('.opblock .opblock-summary-method').allTextContents();
    const paths = await page.locator('.opblock .opblock-summary-path').allTextContents();
    assert.equal(methods.length, paths.length);
    const operations = methods.map(
      (method, i) => `${method.trim()} ${(paths[i] ?? '').replace(/\u200b/g, '').trim()}`,
    );
    const document = (await (await fetch(`${app.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const expected = Object.entries(document.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    assert.ok(expected.length > 0);
    assert.deepEqual([...operations].sort(), [...expected].sort());
    assert.ok(operations.includes('GET /health'));
    assert.ok(recorded.requested.some((url) => url.endsWith('/docs/swagger-ui-bundle.js')));
    assertOnlyLocal(recorded);
    assert.equal(recorded.blocked.size, 0, 'Swagger UI asks for nothing it cannot have');
    await page.close();
  });

  it('ReDoc at /redoc renders the operations', async () => {
    const { page, ...recorded } = await open('/redoc');
    await page.getByRole('heading', { name: 'Service health' }).waitFor({ timeout: 20_000 });
    const title = await page.textContent('h1');
    assert.match(title ?? '', /GLISK backend API/);
    assert.ok(recorded.requested.some((url) => url.endsWith('/openapi.json')));
    // ReDoc's side menu asks for a logo on a CDN; the page's Content-Security-Policy keeps it in the browser.
    assertOnlyLocal(recorded);
    await page.close();
  });
});
