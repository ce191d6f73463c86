// The operator dashboard in a real browser: headless Chromium (Debian's, through playwright-core) opens
// /dashboard against a service whose database holds tokens in every status, a failure, a confirmed reveal and
// an image in the content store. The funnel shows the counts of GET /api/pipeline/stats, the chart, the
// failure, the reveal and the image are drawn, nothing leaves loopback, the console stays clean, and a
// screenshot is saved under .tmp/artifacts/. With the admin key entered, a click on a failure's Retry sends the
// token back (POST /api/tokens/{tokenId}/retry) and the page shows it moved.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'drizzle-orm';
import sharp from 'sharp';
import { type Browser, type Page } from 'playwright-core';
import { computeCid } from '../../src/lib/cid.js';
import * as contentBlobs from '../../src/repositories/content-blobs.repository.js';
import { insertAuthor, insertTokens, txHashOf } from '../helpers/db-fixtures.js';
import { chromiumMissing, closePages, sharedChromium } from '../helpers/browser.js';
import { REPO_ROOT, startTestApp, type TestApp } from '../helpers/http.js';

const ARTIFACTS = path.join(REPO_ROOT, '.tmp', 'artifacts');

const skip = chromiumMissing;
const chromium = sharedChromium();
after(() => chromium.close());

const ADMIN_KEY = 'dashboard-test-admin-key-0123456789';

type Stats = { statuses: { status: string; count: number }[] };

async function stats(app: TestApp): Promise<Record<string, number>> {
  const res = await fetch(`${app.url}/api/pipeline/stats`, {
    headers: { authorization: `Bearer ${ADMIN_KEY}` },
  });
  assert.equal(res.status, 200);
  const body = (await res.json()) as Stats;
  return Object.fromEntries(body.statuses.map((s) => [s.status, s.count]));
}

async function funnelShown(page: Page): Promise<Record<string, number>> {
  const shown: Record<string, number> = {};
  for (const item of await page.locator('#funnel li').all()) {
    const status = await item.getAttribute('data-status');
    assert.ok(status);
    shown[status] = Number(await item.locator('.count').textContent());
  }
  return shown;
}

describe('the operator dashboard in headless Chromium', { skip }, () => {
  let app: TestApp;
  let browser: Browser;
  let imageCid: string;

  before(async () => {
    app = await startTestApp({ env: { ADMIN_API_KEY: ADMIN_KEY } });
    const db = app.testDb.db;
    const author = await insertAuthor(db, 1);
    const png = await sharp({
      create: { width: 64, height: 64, channels: 3, background: { r: 200, g: 60, b: 120 } },
    })
      .png()
      .toBuffer();
    imageCid = await computeCid(png, 'raw-leaves');
    await contentBlobs.put(db, { cid: imageCid, mediaType: 'image/png', bytes: png });
    await insertTokens(db, author, [1, 2]);
    await insertTokens(db, author, [3], { status: 'generating' });
    await insertTokens(db, author, [4], { status: 'uploading', imageCid });
    await insertTokens(db, author, [5, 6], { status: 'ready', imageCid, metadataCid: imageCid });
    const revealed = await insertTokens(db, author, [7], {
      status: 'revealed',
      imageCid,
      metadataCid: imageCid,
      revealedAt: new Date(),
    });
    await insertTokens(db, author, [8], {
      status: 'failed',
      errorData: {
        stage: 'image',
        class: 'PermanentStageError',
        code: 'REPLICATE_UNAUTHORIZED',
        message: 'Replicate refused the API token (401)',
        attempts: 1,
      },
    });
    await db.execute(sql`
      insert into reveal_transactions (token_ids, tx_hash, nonce, block_number, gas_used, status, confirmed_at)
      values (array[${revealed[0]?.id ?? ''}]::uuid[], ${txHashOf(1)}, 0, 10, 117500, 'confirmed', now())`);
    browser = await chromium.get();
  });
  after(async () => {
    await closePages(browser);
    await app?.close();
  });

  async function open(width: number): Promise<{ page: Page; requested: string[]; consoleErrors: string[] }> {
    const page = await browser.newPage({ viewport: { width, height: 900 } });
    const requested: string[] = [];
    const consoleErrors: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    await page.goto(`${app.url}/dashboard`, { waitUntil: 'load', timeout: 20_000 });
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 20_000 });
    return { page, requested, consoleErrors };
  }

  it('shows the funnel counts of the API, the chart, a failure, a reveal and an image; nothing leaves loopback', async () => {
    const { page, requested, consoleErrors } = await open(1200);
    const expected = { detected: 2, generating: 1, uploading: 1, ready: 2, revealed: 1, failed: 1 };
    assert.deepEqual(await stats(app), expected);
    assert.deepEqual(
      await funnelShown(page),
      expected,
      'the funnel shows what GET /api/pipeline/stats answers',
    );
    assert.equal(await page.locator('#chart svg polyline').count(), 3);
    const failure = await page.locator('#failures tr[data-token="8"]').textContent();
    assert.match(failure ?? '', /REPLICATE_UNAUTHORIZED/);
    assert.match(failure ?? '', /refused the API token/);
    const reveal = await page.locator('#reveals tr').first().textContent();
    assert.match(reveal ?? '', /confirmed/);
    assert.match(reveal ?? '', /117500/);
    const image = page.locator('#gallery figure[data-token="7"] img');
    assert.equal(await image.getAttribute('src'), `/ipfs/${imageCid}`);
    await page.waitForLoadState('networkidle', { timeout: 10_000 });
    // Typed structurally: this project is compiled without the DOM's types.
    const naturalWidth = await image.evaluate(
      (node) => (node as unknown as { complete: boolean; naturalWidth: number }).naturalWidth,
    );
    assert.equal(naturalWidth, 64, 'the image is served by /ipfs/{cid} and decodes');
    assert.equal(await page.locator('#empty').isHidden(), true);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    assert.deepEqual(
      requested.filter((url) => !url.startsWith(`${app.url}/`)),
      [],
      'every request goes to this server',
    );
    assert.deepEqual(consoleErrors, []);
    await page.close();
  });

  it('retry needs the admin key; with it, a click sends the failed token back and the funnel follows', async () => {
    const { page, requested, consoleErrors } = await open(1200);
    const button = page.locator('#failures tr[data-token="8"] button');
    assert.equal(await button.isDisabled(), true, 'no key entered: the button is disabled');

    // A wrong key: the route refuses, the page says so, the token stays failed.
    await page.locator('#admin-key').fill('not-the-key-but-long-enough');
    await page.locator('#admin-form button[type="submit"]').click();
    await button.click();
    await page.locator('#retry-result', { hasText: '#8 not retried: ADMIN_UNAUTHORIZED' }).waitFor();
    assert.equal((await stats(app)).failed, 1);

    await page.locator('#admin-key').fill(ADMIN_KEY);
    await page.locator('#admin-form button[type="submit"]').click();
    assert.equal(await page.locator('#admin-key').inputValue(), '', 'the key is not left in the field');
    await page.locator('#failures tr[data-token="8"] button').click();
    // The page refreshes after the answer: the failure is gone and the token counts as detected again.
    await page.locator('#retry-result', { hasText: '#8 sent back to detected' }).waitFor();
    await page.locator('#failures tr[data-token="8"]').waitFor({ state: 'detached' });
    const after = await stats(app);
    assert.deepEqual(after, { detected: 3, generating: 1, uploading: 1, ready: 2, revealed: 1, failed: 0 });
    assert.deepEqual(await funnelShown(page), after);
    const token = (await (await fetch(`${app.url}/api/tokens/8`)).json()) as { status: string };
    assert.equal(token.status, 'detected', 'back at the start of the image stage it failed in');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-after-retry.png'), fullPage: true });
    const retries = requested.filter((url) => url.endsWith('/api/tokens/8/retry'));
    assert.equal(retries.length, 2, 'one POST per click');
    assert.ok(
      requested.every((url) => !url.includes(ADMIN_KEY)),
      'the key never goes into a URL',
    );
    // The refused retry logs a 401 in the console; nothing else may.
    assert.deepEqual(
      consoleErrors.filter((text) => !/401/.test(text)),
      [],
    );
    await page.close();
  });

  it('fits a phone screen: no horizontal scroll of the page', async () => {
    const { page, consoleErrors } = await open(390);
    const overflow = await page
      .locator('html')
      .evaluate(
        (node) =>
          (node as unknown as { scrollWidth: number; clientWidth: number }).scrollWidth -
          (node as unknown as { scrollWidth: number; clientWidth: number }).clientWidth,
      );
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone screen`);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    assert.deepEqual(consoleErrors, []);
    await page.close();
  });
});

describe('the operator dashboard on an empty database', { skip }, () => {
  let app: TestApp;
  let browser: Browser;
  before(async () => {
    app = await startTestApp();
    browser = await chromium.get();
  });
  after(async () => {
    await closePages(browser);
    await app?.close();
  });

  it('says there are no tokens yet', async () => {
    const page = await browser.newPage();
    await page.goto(`${app.url}/dashboard`, { waitUntil: 'load', timeout: 20_000 });
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 20_000 });
    assert.equal(await page.locator('#empty').isVisible(), true);
    assert.match((await page.locator('#failures').textContent()) ?? '', /No failed tokens/);
    assert.match((await page.locator('#gallery').textContent()) ?? '', /No images yet/);
    await page.close();
  });
});
