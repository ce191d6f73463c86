// src/lib/zod.ts is the one place src/ takes zod from, so a schema can be documented whichever module loads
// first. This file imports a schema module before anything of the app (as a worker process does: the
// detection stage's webhook schema, then the routes), so a module that builds its schemas from plain 'zod'
// fails here instead of crashing the app with "alchemyWebhookSchema.openapi is not a function".
// npm test: own process (what it checks is the order modules load in a fresh process)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { alchemyWebhookSchema } from '../../src/stages/detection/alchemy-payload.js';
import { intFor } from '../../src/db/column-ranges.js';
import { tokens } from '../../src/db/schema.js';

describe('zod with the OpenAPI extension (src/lib/zod.ts)', () => {
  it('schemas built by modules that load before the app still take .openapi()', () => {
    assert.equal(typeof alchemyWebhookSchema.openapi, 'function');
    assert.equal(typeof intFor(tokens.tokenId).openapi, 'function');
  });

  it('the app builds its OpenAPI document after a schema module loaded first', async () => {
    const { buildOpenApiDocument } = await import('../../src/http/openapi.js');
    const { routeFactories } = await import('../../src/http/routes/index.js');
    assert.equal(typeof buildOpenApiDocument, 'function');
    assert.ok(routeFactories.length > 0);
  });
});
