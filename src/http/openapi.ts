// The OpenAPI 3.1 document, generated from the zod contracts of the routes the app serves: the document
// cannot drift from what the handlers validate and answer.
import { OpenAPIRegistry, OpenApiGeneratorV31, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from '../lib/zod.js';
import type { Route } from './route.js';

export const ErrorResponse = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'VALIDATION_ERROR' }),
      message: z
        .string()
        .openapi({ example: 'Invalid request query: limit: Too big: expected number to be <=100' }),
      details: z
        .unknown()
        .optional()
        .openapi({ description: 'Machine-readable specifics, e.g. the zod issues' }),
    }),
    requestId: z.string().openapi({ example: '6f1c1d4e-1d0a-4b0e-9a43-2f1e3c2b9d10' }),
  })
  .openapi('ErrorResponse', { description: 'Every error answer of the API has this shape.' });

/** An ISO 8601 UTC timestamp as the API writes them: `2026-01-01T00:00:00.000Z`. */
export const IsoTimestamp = z.iso.datetime().openapi({ example: '2026-01-01T00:00:00.000Z' });

export type OpenApiInfo = { title: string; version: string; description?: string };

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

export function buildOpenApiDocument(routes: readonly Route[], info: OpenApiInfo): OpenApiDocument {
  const registry = new OpenAPIRegistry();
  registry.register('ErrorResponse', ErrorResponse);
  for (const route of routes) {
    if (route.auth) {
      registry.registerComponent('securitySchemes', route.auth.scheme, {
        type: 'http',
        scheme: 'bearer',
        description: route.auth.description,
      });
    }
    registry.registerPath(toRouteConfig(route));
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info,
    servers: [{ url: '/' }],
  });
}

function toRouteConfig(route: Route): RouteConfig {
  const responses: RouteConfig['responses'] = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = response.schema
      ? {
          description: response.description,
          content: { [response.contentType]: { schema: response.schema } },
        }
      : { description: response.description };
  }
  for (const [status, description] of Object.entries(route.errors)) {
    responses[status] ??= { description, content: { 'application/json': { schema: ErrorResponse } } };
  }
  const request: NonNullable<RouteConfig['request']> = {};
  if (route.params) request.params = route.params;
  if (route.query) request.query = route.query;
  if (route.body) {
    request.body = {
      required: true,
      description: route.body.description,
      content: { 'application/json': { schema: route.body.schema } },
    };
  }
  return {
    method: route.method,
    path: route.path,
    operationId: route.operationId,
    summary: route.summary,
    description: route.description,
    tags: [...route.tags],
    ...(route.auth ? { security: [{ [route.auth.scheme]: [] }] } : {}),
    request,
    responses,
  };
}
