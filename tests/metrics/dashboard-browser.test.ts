// The operator dashboard in a real browser: headless Chromium (Debian's, through playwright-core) opens
// /dashboard against a service whose database holds tokens in every status, a failure, a confirmed reveal and
// an image in the content store. The funnel shows the counts of GET /api/pipeline/overview, the chart, the
// failure, the reveal and the image are drawn, nothing leaves loopback, the console stays clean, and a
// screenshot is saved under .tmp/artifacts/.
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
import { chromiumMissing, launchChromium } from '../helpers/browser.js';
import { REPO_ROOT, startTestApp, type TestApp } from '../helpers/http.js';

const ARTIFACTS = path.join(REPO_ROOT, '.tmp', 'artifacts');

const skip = chromiumMissing;

type Overview = { funnel: Record<string, number> };

describe('the operator dashboard in headless Chromium', { skip }, () => {
  let app: TestApp;
  let browser: Browser;
  let imageCid: string;

  before(async () => {
    app = await startTestApp();
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
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
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
    const overview = (await (await fetch(`${app.url}/api/pipeline/overview`)).json()) as Overview;
    assert.deepEqual(overview.funnel, {
      detected: 2,
      generating: 1,
      uploading: 1,
      ready: 2,
      revealed: 1,
      failed: 1,
    });
    for (const [status, count] of Object.entries(overview.funnel)) {
      const shown = await page.locator(`#funnel li[data-status="${status}"] .count`).textContent();
      assert.equal(Number(shown), count, status);
    }
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
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
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
