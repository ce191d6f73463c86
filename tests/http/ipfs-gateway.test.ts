// The IPFS gateway over real HTTP: GET and HEAD /ipfs/{cid} on the content store (media type, ETag = CID,
// immutable caching, one Range, If-None-Match, 404 unknown, 400 malformed), its OpenAPI entries, and the gateway
// links of GET /api/tokens/{tokenId}. Fixture CIDs were computed by Kubo (see providers.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { toCanonicalCid } from '../../src/lib/cid.js';
import * as contentBlobs from '../../src/repositories/content-blobs.repository.js';
import * as ipfsRecords from '../../src/repositories/ipfs-upload-records.repository.js';
import { insertAuthor, insertTokens } from '../helpers/db-fixtures.js';
import { startTestApp, type TestApp } from '../helpers/http.js';

// `echo "hello world" | ipfs add --cid-version=1`
const IMAGE = Buffer.from('hello world\n');
const IMAGE_CID = 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4';
// `echo "Hello Worlds!" | ipfs add` (CIDv0), stored in its canonical CIDv1 form.
const JSON_BYTES = Buffer.from('Hello Worlds!\n');
const JSON_CID_V0 = 'QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH';
const JSON_CID_V1 = toCanonicalCid(JSON_CID_V0);
// `echo file1 | ipfs add --cid-version=1`: a valid CID that is not stored.
// What `ipfs add --cid-version=0` answers for IMAGE (dag-pb leaves): a provider laying the file out its own way.
const PROVIDER_CID_V0 = 'QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o';
const PROVIDER_CID = toCanonicalCid(PROVIDER_CID_V0);
// A CID answered by an upload that did not complete.
const FAILED_UPLOAD_CID = toCanonicalCid('QmWATWQ7fVPP2EFGu71UkfnqhYXDYH566qy47CnJDgvs8u');

const UNKNOWN_CID = 'bafkreihm3rktn5z33luic3youqdsn326toaq3ekesmdvsa53sbrd3f5r3a';

describe('IPFS gateway', { timeout: 30_000 }, () => {
  let app: TestApp;
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
    fetch(`${app.url}${path}`, { method, headers });

  before(async () => {
    app = await startTestApp();
    await contentBlobs.put(app.testDb.db, { cid: IMAGE_CID, mediaType: 'image/png', bytes: IMAGE });
    await contentBlobs.put(app.testDb.db, {
      cid: JSON_CID_V1,
      mediaType: 'application/json',
      bytes: JSON_BYTES,
    });
  });
  after(() => app.close());

  it('200: the exact bytes with their media type, ETag = CID, immutable caching', async () => {
    const response = await get(`/ipfs/${IMAGE_CID}`);
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), IMAGE);
    assert.equal(response.headers.get('content-type'), 'image/png');
    assert.equal(response.headers.get('etag'), `"${IMAGE_CID}"`);
    assert.equal(response.headers.get('cache-control'), 'public, max-age=29030400, immutable');
    assert.equal(response.headers.get('content-length'), String(IMAGE.length));
    assert.equal(response.headers.get('accept-ranges'), 'bytes');
  });

  it('answers a CIDv0 path and its CIDv1 form alike (one stored form)', async () => {
    for (const cid of [JSON_CID_V0, JSON_CID_V1]) {
      const response = await get(`/ipfs/${cid}`);
      assert.equal(response.status, 200, cid);
      assert.equal(await response.text(), 'Hello Worlds!\n');
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
      assert.equal(response.headers.get('etag'), `"${cid}"`);
    }
  });

  it('HEAD: the same headers, no body', async () => {
    const response = await get(`/ipfs/${IMAGE_CID}`, {}, 'HEAD');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), String(IMAGE.length));
    assert.equal(response.headers.get('etag'), `"${IMAGE_CID}"`);
    assert.equal(response.headers.get('content-type'), 'image/png');
    assert.equal((await response.arrayBuffer()).byteLength, 0);
    assert.equal((await get(`/ipfs/${UNKNOWN_CID}`, {}, 'HEAD')).status, 404);
  });

  it('Range: 206 with the slice and Content-Range; 416 beyond the end; If-Range with another ETag gets 200', async () => {
    const first = await get(`/ipfs/${IMAGE_CID}`, { Range: 'bytes=0-4' });
    assert.equal(first.status, 206);
    assert.equal(await first.text(), 'hello');
    assert.equal(first.headers.get('content-range'), `bytes 0-4/${IMAGE.length}`);
    assert.equal(first.headers.get('content-length'), '5');

    const tail = await get(`/ipfs/${IMAGE_CID}`, { Range: 'bytes=-6' });
    assert.equal(tail.status, 206);
    assert.equal(await tail.text(), 'world\n');

    const beyond = await get(`/ipfs/${IMAGE_CID}`, { Range: 'bytes=100-200' });
    assert.equal(beyond.status, 416);
    assert.equal(beyond.headers.get('content-range'), `bytes */${IMAGE.length}`);

    const stale = await get(`/ipfs/${IMAGE_CID}`, { Range: 'bytes=0-4', 'If-Range': '"something-else"' });
    assert.equal(stale.status, 200);
    assert.equal((await stale.arrayBuffer()).byteLength, IMAGE.length);
  });

  it('If-None-Match with the CID: 304 without a body; another ETag: 200', async () => {
    for (const header of [`"${IMAGE_CID}"`, `W/"${IMAGE_CID}"`, `"other", "${IMAGE_CID}"`, '*']) {
      const response = await get(`/ipfs/${IMAGE_CID}`, { 'If-None-Match': header });
      assert.equal(response.status, 304, header);
      assert.equal(response.headers.get('etag'), `"${IMAGE_CID}"`);
      assert.equal((await response.arrayBuffer()).byteLength, 0);
    }
    assert.equal((await get(`/ipfs/${IMAGE_CID}`, { 'If-None-Match': '"other"' })).status, 200);
  });

  it('404 for a CID not stored here, 400 for a malformed one', async () => {
    const missing = await get(`/ipfs/${UNKNOWN_CID}`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'CONTENT_NOT_FOUND');
    for (const bad of ['not-a-cid', 'Qm123', `${IMAGE_CID.slice(0, -1)}0`]) {
      const response = await get(`/ipfs/${bad}`);
      assert.equal(response.status, 400, bad);
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'VALIDATION_ERROR');
    }
  });

  it('is in the OpenAPI document with GET and HEAD', async () => {
    const document = (await (await get('/openapi.json')).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    const path = document.paths['/ipfs/{cid}'];
    assert.ok(path?.get && path.head);
    assert.deepEqual(Object.keys(path.get.responses).sort(), [
      '200',
      '206',
      '304',
      '400',
      '404',
      '416',
      '500',
      '503',
    ]);
  });

  it('GET /api/tokens/{tokenId} links the CIDs the gateway serves, and only those', async () => {
    const author = await insertAuthor(app.testDb.db, 1);
    await insertTokens(app.testDb.db, author, [5], {
      status: 'ready',
      imageCid: IMAGE_CID,
      metadataCid: JSON_CID_V1,
    });
    await insertTokens(app.testDb.db, author, [6], {
      status: 'ready',
      imageCid: IMAGE_CID,
      metadataCid: UNKNOWN_CID,
    });
    const five = (await (await get('/api/tokens/5')).json()) as Record<string, unknown>;
    assert.equal(five.imageCid, IMAGE_CID);
    assert.equal(five.imageUrl, `/ipfs/${IMAGE_CID}`);
    assert.equal(five.metadataUrl, `/ipfs/${JSON_CID_V1}`);
    const six = (await (await get('/api/tokens/6')).json()) as Record<string, unknown>;
    assert.equal(six.metadataCid, UNKNOWN_CID);
    assert.equal(six.metadataUrl, null);
    const followed = await get(String(five.metadataUrl));
    assert.equal(await followed.text(), 'Hello Worlds!\n');
  });

  it("serves a provider's CID that differs from ours with the content it stands for (completed uploads only)", async () => {
    const author = await insertAuthor(app.testDb.db, 2);
    const [token] = await insertTokens(app.testDb.db, author, [7], {
      status: 'ready',
      imageCid: PROVIDER_CID,
      metadataCid: JSON_CID_V1,
    });
    assert.ok(token);
    const record = { tokenRowId: token.id, recordType: 'image' as const, provider: 'pinata' as const };
    await ipfsRecords.add(app.testDb.db, {
      ...record,
      computedCid: IMAGE_CID,
      cid: PROVIDER_CID,
      status: 'completed',
    });
    await ipfsRecords.add(app.testDb.db, {
      ...record,
      computedCid: IMAGE_CID,
      cid: FAILED_UPLOAD_CID,
      status: 'failed',
    });
    for (const cid of [PROVIDER_CID_V0, PROVIDER_CID]) {
      const response = await get(`/ipfs/${cid}`);
      assert.equal(response.status, 200, cid);
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), IMAGE);
      assert.equal(response.headers.get('etag'), `"${cid}"`);
      assert.equal(response.headers.get('content-type'), 'image/png');
      assert.equal((await get(`/ipfs/${cid}`, {}, 'HEAD')).status, 200);
    }
    assert.equal((await get(`/ipfs/${FAILED_UPLOAD_CID}`)).status, 404, 'a failed upload names nothing');
    assert.equal((await get(`/ipfs/${FAILED_UPLOAD_CID}`, {}, 'HEAD')).status, 404);
    const seven = (await (await get('/api/tokens/7')).json()) as Record<string, unknown>;
    assert.equal(seven.imageUrl, `/ipfs/${PROVIDER_CID}`);
  });
});
