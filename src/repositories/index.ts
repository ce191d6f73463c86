// Every repository module under one name, the map that the unit of work binds to a transaction. Callers
// outside a unit of work (a worker's claim on the pool, a test) use the modules directly with any Executor.
import * as authNonces from './auth-nonces.repository.js';
import * as authors from './authors.repository.js';
import * as contentBlobs from './content-blobs.repository.js';
import * as imageJobs from './image-generation-jobs.repository.js';
import * as ipfsRecords from './ipfs-upload-records.repository.js';
import * as mintEvents from './mint-events.repository.js';
import * as oauthStates from './oauth-states.repository.js';
import * as revealAttempts from './reveal-attempts.repository.js';
import * as pipelineOverview from './pipeline-overview.repository.js';
import * as revealTransactions from './reveal-transactions.repository.js';
import * as systemState from './system-state.repository.js';
import * as tokenQueue from './token-queue.repository.js';
import * as tokens from './tokens.repository.js';

export const repositories = {
  authors,
  tokens,
  tokenQueue,
  mintEvents,
  imageJobs,
  ipfsRecords,
  revealTransactions,
  revealAttempts,
  systemState,
  contentBlobs,
  authNonces,
  oauthStates,
  pipelineOverview,
} as const;

export type Repositories = typeof repositories;
