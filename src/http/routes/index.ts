// Every route module of the API. A new `*.routes.ts` exports a RouteFactory and is added here; createApp
// mounts these routes and documents them in /openapi.json from the same definitions.
import type { RouteFactory } from '../route.js';
import { authRoutes } from './auth.routes.js';
import { authorsRoutes } from './authors.routes.js';
import { farcasterRoutes } from './farcaster.routes.js';
import { healthRoutes } from './health.routes.js';
import { ipfsRoutes } from './ipfs.routes.js';
import { mintEventsRoutes } from './mint-events.routes.js';
import { operatorRoutes } from './operator.routes.js';
import { revealTransactionsRoutes } from './reveal-transactions.routes.js';
import { pipelineOverviewRoutes } from './pipeline-overview.routes.js';
import { tokensRoutes } from './tokens.routes.js';
import { webhookRoutes } from './webhook.routes.js';
import { xRoutes } from './x.routes.js';

export const routeFactories: readonly RouteFactory[] = [
  healthRoutes,
  webhookRoutes,
  tokensRoutes,
  mintEventsRoutes,
  ipfsRoutes,
  revealTransactionsRoutes,
  authRoutes,
  // Before authorsRoutes: /api/authors/x/callback is not a {wallet}.
  xRoutes,
  farcasterRoutes,
  authorsRoutes,
  pipelineOverviewRoutes,
  operatorRoutes,
];
