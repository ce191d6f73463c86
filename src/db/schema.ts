// The tables of season 0. This file is the single source of the TypeScript row types and of the SQL
// migrations that drizzle-kit generates into drizzle/. Every invariant the pipeline relies on is a database
// constraint, so that no code path (or operator with psql) can write a row the workers would misread.
// Statuses are text + CHECK rather than pg enums: drizzle-kit cannot remove or rename enum values.
import { sql } from 'drizzle-orm';
import {
  bigint,
  check,
  foreignKey,
  customType,
  index,
  integer,
  jsonb,
  numeric,
  pgTable,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';

export const TOKEN_STATUSES = ['detected', 'generating', 'uploading', 'ready', 'revealed', 'failed'] as const;
export type TokenStatus = (typeof TOKEN_STATUSES)[number];

export const IMAGE_JOB_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;
export type ImageJobStatus = (typeof IMAGE_JOB_STATUSES)[number];

export const IPFS_RECORD_TYPES = ['image', 'metadata'] as const;
export type IpfsRecordType = (typeof IPFS_RECORD_TYPES)[number];

export const IPFS_RECORD_STATUSES = ['pending', 'uploading', 'completed', 'failed'] as const;
export type IpfsRecordStatus = (typeof IPFS_RECORD_STATUSES)[number];

export const REVEAL_TX_STATUSES = ['pending', 'sent', 'confirmed', 'failed'] as const;
export type RevealTxStatus = (typeof REVEAL_TX_STATUSES)[number];

/**
 * A signed reveal transaction's life on the node: `signed` (stored, maybe broadcast before a crash: it may land),
 * `broadcast` (a node accepted it or already knew it), `rejected` (a node refused it for good: it cannot land).
 */
export const REVEAL_ATTEMPT_STATUSES = ['signed', 'broadcast', 'rejected'] as const;
export type RevealAttemptStatus = (typeof REVEAL_ATTEMPT_STATUSES)[number];

/** The largest batch the contract mints or reveals at once. */
export const MAX_BATCH_SIZE = 50;

/** Free-form error details stored in jsonb columns. */
export type ErrorData = {
  code: string;
  message: string;
  transient?: boolean;
  at?: string;
  [key: string]: unknown;
};

const timestamptz = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => timestamptz('created_at').notNull().defaultNow();
const updatedAt = () => timestamptz('updated_at').notNull().defaultNow();

/** `col IN ('a','b')` for a CHECK; values come from the constants above, never from input. */
const oneOf = (column: string, values: readonly string[]) =>
  sql.raw(`${column} IN (${values.map((v) => `'${v}'`).join(', ')})`);

/**
 * A format CHECK: `column`'s length satisfies `length` and it matches `pattern`, an anchored regex without counted
 * repetition (no `{40}`, no `{50,}`). PostgreSQL's regex engine expands a counted repetition into a state per count
 * and builds its DFA afresh for every match: `~ '^b[a-z2-7]{50,}$'` cost 17-20 µs per value checked and
 * `~ '^0x[0-9a-fA-F]{40}$'` 4-5 µs, against under 1 µs for `+` with the length tested apart. A row's CHECKs run on
 * every update of it, and a token's row is updated by every claim, lease renewal and finish of every stage.
 * tests/db/constraints.test.ts refuses a counted repetition in any CHECK of the schema.
 */
const formatCheck = (column: string, length: string, pattern: string) =>
  `(char_length(${column}) ${length} AND ${column} ~ '${pattern}')`;
const isAddress = (column: string) => formatCheck(column, '= 42', '^0x[0-9a-fA-F]+$');
const isTxHash = (column: string) => formatCheck(column, '= 66', '^0x[0-9a-f]+$');
/** CIDv1 in base32 (at least 51 characters) as the content store keys its files. */
const isCidV1 = (column: string) => formatCheck(column, '>= 51', '^b[a-z2-7]+$');
// CIDv1 in base32 (bafy.../bafk...) as we pin them; CIDv0 (Qm..., 46 characters) only because the gap scan may
// sync a token that someone else revealed on chain with one.
const isCid = (column: string) =>
  `(${isCidV1(column)} OR ${formatCheck(column, '= 46', '^Qm[1-9A-HJ-NP-Za-km-z]+$')})`;

export const authors = pgTable(
  'authors',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    walletAddress: varchar('wallet_address', { length: 42 }).notNull(),
    twitterHandle: varchar('twitter_handle', { length: 255 }),
    farcasterHandle: varchar('farcaster_handle', { length: 255 }),
    // Null until the author writes one: authors are created when someone mints with them.
    promptText: text('prompt_text'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('authors_wallet_address_lower_uq').on(sql`lower(${t.walletAddress})`),
    check('authors_wallet_address_format', sql.raw(isAddress('wallet_address'))),
    check(
      'authors_twitter_handle_format',
      sql.raw(
        `twitter_handle IS NULL OR ${formatCheck('twitter_handle', 'BETWEEN 1 AND 15', '^[A-Za-z0-9_]+$')}`,
      ),
    ),
    check(
      'authors_farcaster_handle_format',
      sql.raw(
        `farcaster_handle IS NULL OR ${formatCheck('farcaster_handle', '<= 32', '^[a-z0-9][a-z0-9.-]*$')}`,
      ),
    ),
    check(
      'authors_prompt_text_length',
      sql`${t.promptText} IS NULL OR char_length(btrim(${t.promptText})) BETWEEN 1 AND 1000`,
    ),
  ],
);

export const tokens = pgTable(
  'tokens_s0',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tokenId: integer('token_id').notNull(),
    authorId: uuid('author_id')
      .notNull()
      .references(() => authors.id, { onDelete: 'restrict' }),
    minterAddress: varchar('minter_address', { length: 42 }).notNull(),
    status: text('status').$type<TokenStatus>().notNull().default('detected'),
    mintTimestamp: timestamptz('mint_timestamp').notNull(),
    imageCid: text('image_cid'),
    metadataCid: text('metadata_cid'),
    // The last error of any stage; the per-attempt history lives in the job and upload tables.
    errorData: jsonb('error_data').$type<ErrorData>(),
    generationAttempts: integer('generation_attempts').notNull().default(0),
    uploadAttempts: integer('upload_attempts').notNull().default(0),
    revealAttempts: integer('reveal_attempts').notNull().default(0),
    // Backoff: a worker claims the token only once this time has passed.
    nextAttemptAt: timestamptz('next_attempt_at').notNull().defaultNow(),
    // Lease: the worker that claimed the token, until when. An expired lease means the worker died.
    leaseOwner: text('lease_owner'),
    leaseExpiresAt: timestamptz('lease_expires_at'),
    revealTxHash: varchar('reveal_tx_hash', { length: 66 }),
    // When the token became ready: the reveal batch is sent once its oldest token has waited long enough
    // (updated_at moves with every claim, so it cannot say that).
    readyAt: timestamptz('ready_at'),
    revealedAt: timestamptz('revealed_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('tokens_s0_token_id_uq').on(t.tokenId),
    check('tokens_s0_token_id_positive', sql`${t.tokenId} >= 1`),
    check('tokens_s0_status_valid', oneOf('status', TOKEN_STATUSES)),
    check('tokens_s0_minter_address_format', sql.raw(isAddress('minter_address'))),
    check('tokens_s0_image_cid_format', sql.raw(`image_cid IS NULL OR ${isCid('image_cid')}`)),
    check('tokens_s0_metadata_cid_format', sql.raw(`metadata_cid IS NULL OR ${isCid('metadata_cid')}`)),
    check(
      'tokens_s0_reveal_tx_hash_format',
      sql.raw(`reveal_tx_hash IS NULL OR ${isTxHash('reveal_tx_hash')}`),
    ),
    check(
      'tokens_s0_attempts_non_negative',
      sql`${t.generationAttempts} >= 0 AND ${t.uploadAttempts} >= 0 AND ${t.revealAttempts} >= 0`,
    ),
    check('tokens_s0_lease_complete', sql`(${t.leaseOwner} IS NULL) = (${t.leaseExpiresAt} IS NULL)`),
    // A ready token has both CIDs. A revealed one has at least its metadata CID: a token that someone else
    // revealed on chain is synced from tokenURI, which names the metadata only.
    check(
      'tokens_s0_ready_has_cids',
      sql`${t.status} <> 'ready' OR (${t.imageCid} IS NOT NULL AND ${t.metadataCid} IS NOT NULL)`,
    ),
    check(
      'tokens_s0_revealed_has_metadata_cid',
      sql`${t.status} <> 'revealed' OR ${t.metadataCid} IS NOT NULL`,
    ),
    index('tokens_s0_author_id_idx').on(t.authorId),
    index('tokens_s0_status_created_idx').on(t.status, t.createdAt),
    // Serves every stage's claim query: status = $stage AND next_attempt_at <= now() ORDER BY next_attempt_at,
    // token_id. Terminal tokens (the vast majority over time) are left out of the index.
    index('tokens_s0_claim_idx')
      .on(t.status, t.nextAttemptAt, t.tokenId)
      .where(sql`${t.status} IN ('detected', 'generating', 'uploading', 'ready')`),
    // The image stage claims two statuses (detected, and generating with a dead or released lease), which the
    // index above cannot return in next_attempt_at order; this one can, so that claim never sorts.
    index('tokens_s0_image_claim_idx')
      .on(t.nextAttemptAt, t.tokenId)
      .where(sql`${t.status} IN ('detected', 'generating')`),
    // GET /api/pipeline/stats and /dashboard without a scan of every token: reveals per minute (a range of the
    // last hour), the oldest failed token, the leases held per status. Each holds few rows (revealed_at is set
    // once; failed and leased tokens are few) and is written only when a token reveals, fails, or is claimed.
    index('tokens_s0_revealed_at_idx')
      .on(t.revealedAt)
      .where(sql`${t.revealedAt} IS NOT NULL`),
    index('tokens_s0_failed_updated_idx')
      .on(t.updatedAt)
      .where(sql`${t.status} = 'failed'`),
    index('tokens_s0_leased_idx')
      .on(t.status)
      .where(sql`${t.leaseOwner} IS NOT NULL`),
    // Content retention: a stored image still needed by a token that is not revealed yet is never deleted.
    index('tokens_s0_unrevealed_image_cid_idx')
      .on(t.imageCid)
      .where(sql`${t.status} <> 'revealed' AND ${t.imageCid} IS NOT NULL`),
  ],
);

/**
 * Tokens per status, kept by triggers on tokens_s0 (added by hand to migration 0008: drizzle-kit cannot express
 * them) so that the metrics never count 100k rows. Each statement that inserts, updates, deletes or truncates
 * tokens appends one row per status it changed (`count` is the change, negative when tokens left the status):
 * append-only, so concurrent writers never wait on a shared counter row. A reader sums per status; the metrics
 * refresh folds the rows into one per status now and then (src/repositories/token-status-counts.repository.ts).
 */
export const tokenStatusCounts = pgTable(
  'token_status_counts',
  {
    status: text('status').$type<TokenStatus>().notNull(),
    count: bigint('count', { mode: 'number' }).notNull(),
  },
  () => [check('token_status_counts_status_valid', oneOf('status', TOKEN_STATUSES))],
);

export const mintEvents = pgTable(
  'mint_events',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    txHash: varchar('tx_hash', { length: 66 }).notNull(),
    logIndex: integer('log_index').notNull(),
    blockNumber: bigint('block_number', { mode: 'number' }).notNull(),
    blockTimestamp: timestamptz('block_timestamp').notNull(),
    // First id of the batch; the batch is token_id .. token_id + quantity - 1.
    startTokenId: integer('token_id').notNull(),
    quantity: integer('quantity').notNull(),
    minterAddress: varchar('minter_address', { length: 42 }).notNull(),
    authorWallet: varchar('author_wallet', { length: 42 }).notNull(),
    // msg.value in wei; uint256 does not fit a bigint.
    totalPaidWei: numeric('total_paid_wei', { precision: 78, scale: 0 }).notNull().default('0'),
    detectedAt: timestamptz('detected_at').notNull().defaultNow(),
  },
  (t) => [
    unique('mint_events_tx_hash_log_index_uq').on(t.txHash, t.logIndex),
    check('mint_events_tx_hash_format', sql.raw(isTxHash('tx_hash'))),
    check('mint_events_log_index_non_negative', sql`${t.logIndex} >= 0`),
    check('mint_events_block_number_positive', sql`${t.blockNumber} > 0`),
    check('mint_events_token_id_positive', sql`${t.startTokenId} >= 1`),
    check('mint_events_quantity_range', sql.raw(`quantity BETWEEN 1 AND ${MAX_BATCH_SIZE}`)),
    check('mint_events_minter_address_format', sql.raw(isAddress('minter_address'))),
    check('mint_events_author_wallet_format', sql.raw(isAddress('author_wallet'))),
    check('mint_events_total_paid_non_negative', sql`${t.totalPaidWei} >= 0`),
    index('mint_events_block_number_idx').on(t.blockNumber),
  ],
);

export const imageGenerationJobs = pgTable(
  'image_generation_jobs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tokenRowId: uuid('token_id')
      .notNull()
      .references(() => tokens.id, { onDelete: 'cascade' }),
    service: text('service').notNull(),
    status: text('status').$type<ImageJobStatus>().notNull().default('pending'),
    externalJobId: text('external_job_id'),
    retryCount: integer('retry_count').notNull().default(0),
    errorData: jsonb('error_data').$type<ErrorData>(),
    createdAt: createdAt(),
    completedAt: timestamptz('completed_at'),
  },
  (t) => [
    check('image_generation_jobs_status_valid', oneOf('status', IMAGE_JOB_STATUSES)),
    check('image_generation_jobs_retry_count_non_negative', sql`${t.retryCount} >= 0`),
    index('image_generation_jobs_token_created_idx').on(t.tokenRowId, t.createdAt),
  ],
);

export const ipfsUploadRecords = pgTable(
  'ipfs_upload_records',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tokenRowId: uuid('token_id')
      .notNull()
      .references(() => tokens.id, { onDelete: 'cascade' }),
    recordType: text('record_type').$type<IpfsRecordType>().notNull(),
    // Which provider the attempt went to (IPFS_PROVIDER at the time); null only on rows older than the column.
    provider: text('provider'),
    // The CID computed here from the bytes; `cid` is the one the provider answered (and that was kept).
    // They differ only when the provider lays the file out differently: both are recorded.
    computedCid: text('computed_cid'),
    cid: text('cid'),
    status: text('status').$type<IpfsRecordStatus>().notNull().default('pending'),
    retryCount: integer('retry_count').notNull().default(0),
    errorData: jsonb('error_data').$type<ErrorData>(),
    createdAt: createdAt(),
    completedAt: timestamptz('completed_at'),
  },
  (t) => [
    check('ipfs_upload_records_record_type_valid', oneOf('record_type', IPFS_RECORD_TYPES)),
    check('ipfs_upload_records_status_valid', oneOf('status', IPFS_RECORD_STATUSES)),
    check('ipfs_upload_records_retry_count_non_negative', sql`${t.retryCount} >= 0`),
    check('ipfs_upload_records_cid_format', sql.raw(`cid IS NULL OR ${isCid('cid')}`)),
    check(
      'ipfs_upload_records_computed_cid_format',
      sql.raw(`computed_cid IS NULL OR ${isCid('computed_cid')}`),
    ),
    check(
      'ipfs_upload_records_provider_valid',
      sql`${t.provider} IS NULL OR ${t.provider} IN ('local', 'kubo', 'pinata')`,
    ),
    check('ipfs_upload_records_completed_has_cid', sql`${t.status} <> 'completed' OR ${t.cid} IS NOT NULL`),
    index('ipfs_upload_records_token_created_idx').on(t.tokenRowId, t.createdAt),
    // Content retention: which tokens' completed uploads hold this stored content.
    index('ipfs_upload_records_computed_cid_idx')
      .on(t.computedCid)
      .where(sql`${t.status} = 'completed'`),
    // The gateway serves content by the provider's CID too, when it differs from ours (rare: a small index).
    index('ipfs_upload_records_provider_cid_idx')
      .on(t.cid)
      .where(
        sql`${t.status} = 'completed' AND ${t.computedCid} IS NOT NULL AND ${t.cid} <> ${t.computedCid}`,
      ),
  ],
);

export const revealTransactions = pgTable(
  'reveal_transactions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    // tokens_s0.id of every token in the batch (an array cannot carry a foreign key).
    tokenRowIds: uuid('token_ids').array().notNull(),
    // The keeper wallet that signs the batch; null only on rows written before the reveal stage existed.
    keeperAddress: varchar('keeper_address', { length: 42 }),
    // Null while pending: the row is written before the send, so a crash between send and record is visible.
    txHash: varchar('tx_hash', { length: 66 }),
    nonce: bigint('nonce', { mode: 'number' }),
    blockNumber: bigint('block_number', { mode: 'number' }),
    gasPriceGwei: numeric('gas_price_gwei', { precision: 20, scale: 9 }),
    gasUsed: bigint('gas_used', { mode: 'number' }),
    status: text('status').$type<RevealTxStatus>().notNull().default('pending'),
    errorData: jsonb('error_data').$type<ErrorData>(),
    createdAt: createdAt(),
    sentAt: timestamptz('sent_at'),
    confirmedAt: timestamptz('confirmed_at'),
    updatedAt: updatedAt(),
  },
  (t) => [
    unique('reveal_transactions_tx_hash_uq').on(t.txHash),
    check(
      'reveal_transactions_token_ids_size',
      sql.raw(`cardinality(token_ids) BETWEEN 1 AND ${MAX_BATCH_SIZE}`),
    ),
    check('reveal_transactions_tx_hash_format', sql.raw(`tx_hash IS NULL OR ${isTxHash('tx_hash')}`)),
    check('reveal_transactions_status_valid', oneOf('status', REVEAL_TX_STATUSES)),
    check(
      'reveal_transactions_sent_has_hash',
      sql`${t.status} NOT IN ('sent', 'confirmed') OR ${t.txHash} IS NOT NULL`,
    ),
    check('reveal_transactions_nonce_non_negative', sql`${t.nonce} IS NULL OR ${t.nonce} >= 0`),
    check('reveal_transactions_block_number_positive', sql`${t.blockNumber} IS NULL OR ${t.blockNumber} > 0`),
    check(
      'reveal_transactions_gas_price_non_negative',
      sql`${t.gasPriceGwei} IS NULL OR ${t.gasPriceGwei} >= 0`,
    ),
    check('reveal_transactions_gas_used_non_negative', sql`${t.gasUsed} IS NULL OR ${t.gasUsed} >= 0`),
    check(
      'reveal_transactions_keeper_address_format',
      sql.raw(`keeper_address IS NULL OR ${formatCheck('keeper_address', '= 42', '^0x[0-9a-f]+$')}`),
    ),
    // The target of reveal_attempts' (reveal_transaction_id, nonce) foreign key: every attempt of a batch is
    // at the batch's one nonce, so a batch can never be signed again at a second nonce.
    unique('reveal_transactions_id_nonce_uq').on(t.id, t.nonce),
    // One batch in flight per keeper: its nonces are used one at a time, never raced (the advisory lock in
    // src/db/lock-keys.ts serialises the senders; this makes a second in-flight row impossible anyway).
    uniqueIndex('reveal_transactions_one_in_flight_per_keeper_uq')
      .on(t.keeperAddress)
      .where(sql`${t.status} IN ('pending', 'sent') AND ${t.keeperAddress} IS NOT NULL`),
    index('reveal_transactions_status_created_idx').on(t.status, t.createdAt),
    // The reveal claim skips tokens that an unfinished transaction may still reveal (token_id = ANY(token_ids)).
    index('reveal_transactions_in_flight_token_ids_idx')
      .using('gin', t.tokenRowIds)
      .where(sql`${t.status} IN ('pending', 'sent')`),
  ],
);

/**
 * Every signed transaction of a reveal batch: the first send and each fee-bumped replacement, all at the batch's
 * nonce. Written BEFORE the bytes are broadcast, so that after a crash the exact bytes are sent again (same hash)
 * rather than signed anew, and every hash that may land is known and polled.
 */
export const revealAttempts = pgTable(
  'reveal_attempts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    revealTransactionId: uuid('reveal_transaction_id').notNull(),
    // 0 for the first send, 1.. for each replacement.
    bump: integer('bump').notNull(),
    nonce: bigint('nonce', { mode: 'number' }).notNull(),
    // The signed EIP-1559 transaction as 0x-prefixed lower-case hex, exactly what eth_sendRawTransaction gets.
    rawTransaction: text('raw_transaction').notNull(),
    txHash: varchar('tx_hash', { length: 66 }).notNull(),
    maxFeePerGasWei: numeric('max_fee_per_gas_wei', { precision: 78, scale: 0 }).notNull(),
    maxPriorityFeePerGasWei: numeric('max_priority_fee_per_gas_wei', { precision: 78, scale: 0 }).notNull(),
    gasLimit: bigint('gas_limit', { mode: 'number' }).notNull(),
    status: text('status').$type<RevealAttemptStatus>().notNull().default('signed'),
    // The node's answer to the last broadcast, raw text kept (never contains the key: only signed bytes travel).
    broadcastError: jsonb('broadcast_error').$type<ErrorData>(),
    createdAt: createdAt(),
    broadcastAt: timestamptz('broadcast_at'),
    updatedAt: updatedAt(),
  },
  (t) => [
    foreignKey({
      name: 'reveal_attempts_reveal_transaction_nonce_fk',
      columns: [t.revealTransactionId, t.nonce],
      foreignColumns: [revealTransactions.id, revealTransactions.nonce],
    }).onDelete('cascade'),
    unique('reveal_attempts_tx_hash_uq').on(t.txHash),
    unique('reveal_attempts_reveal_transaction_bump_uq').on(t.revealTransactionId, t.bump),
    check('reveal_attempts_bump_non_negative', sql`${t.bump} >= 0`),
    check('reveal_attempts_nonce_non_negative', sql`${t.nonce} >= 0`),
    check('reveal_attempts_tx_hash_format', sql.raw(isTxHash('tx_hash'))),
    check('reveal_attempts_raw_transaction_format', sql`${t.rawTransaction} ~ '^0x02[0-9a-f]+$'`),
    check(
      'reveal_attempts_fees_valid',
      sql`${t.maxPriorityFeePerGasWei} >= 0 AND ${t.maxFeePerGasWei} >= ${t.maxPriorityFeePerGasWei}`,
    ),
    check('reveal_attempts_gas_limit_positive', sql`${t.gasLimit} > 0`),
    check('reveal_attempts_status_valid', oneOf('status', REVEAL_ATTEMPT_STATUSES)),
  ],
);

// bytea as a Node Buffer (postgres.js sends and returns Buffers for bytea).
const bytea = customType<{ data: Buffer; driverData: Buffer }>({ dataType: () => 'bytea' });

/** Media types the content store accepts: the image formats providers return, and the metadata JSON. */
export const CONTENT_MEDIA_TYPES = ['image/png', 'image/jpeg', 'image/webp', 'application/json'] as const;
export type ContentMediaType = (typeof CONTENT_MEDIA_TYPES)[number];

// The content store: files handed from one stage to the next (generated images, metadata JSON) keyed by the CID
// that `ipfs add` computes for them, so that any worker on any machine can pin them without a shared disk and the
// local IPFS provider can serve them. Immutable: a CID names its bytes, so a row is written once and never updated.
export const contentBlobs = pgTable(
  'content_blobs',
  {
    // Canonical form: CIDv1 base32 (src/lib/cid.ts toCanonicalCid).
    cid: text('cid').primaryKey(),
    mediaType: text('media_type').$type<ContentMediaType>().notNull(),
    sizeBytes: integer('size_bytes').notNull(),
    bytes: bytea('bytes').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    check('content_blobs_cid_format', sql.raw(isCidV1('cid'))),
    check('content_blobs_media_type_valid', oneOf('media_type', CONTENT_MEDIA_TYPES)),
    check('content_blobs_size_matches', sql`${t.sizeBytes} = octet_length(${t.bytes})`),
  ],
);

// One row per rate limit shared by every worker process (the Pinata API's requests per minute): the next free
// request slot. Reserving a slot is one UPDATE under the row lock, so processes on any machine take turns.
export const rateLimits = pgTable(
  'rate_limits',
  {
    key: varchar('key', { length: 100 }).primaryKey(),
    nextSlotAt: timestamptz('next_slot_at').notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [check('rate_limits_key_format', sql`${t.key} ~ '^[a-z0-9_:.-]+$'`)],
);

export const systemState = pgTable(
  'system_state',
  {
    key: varchar('key', { length: 255 }).primaryKey(),
    stateValue: jsonb('state_value').$type<unknown>().notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [check('system_state_key_format', sql`${t.key} ~ '^[A-Za-z0-9_]+$'`)],
);

// Sign-in nonces (EIP-4361): issued by POST /api/auth/nonce, consumed (consumed_at set) in the same transaction
// as the write a signed message authorises. The consuming UPDATE requires consumed_at IS NULL, so of two
// concurrent uses the second waits for the first's row lock, re-reads the row and matches nothing.
export const authNonces = pgTable(
  'auth_nonces',
  {
    nonce: varchar('nonce', { length: 64 }).primaryKey(),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at').notNull(),
    consumedAt: timestamptz('consumed_at'),
  },
  (t) => [
    // EIP-4361: at least 8 alphanumeric characters.
    check('auth_nonces_nonce_format', sql.raw(formatCheck('nonce', 'BETWEEN 8 AND 64', '^[A-Za-z0-9]+$'))),
    check('auth_nonces_expires_after_creation', sql`${t.expiresAt} > ${t.createdAt}`),
    // Serves the purge of old nonces at each issuance.
    index('auth_nonces_expires_at_idx').on(t.expiresAt),
  ],
);

export const OAUTH_PROVIDERS = ['x'] as const;
export type OAuthProvider = (typeof OAUTH_PROVIDERS)[number];

// OAuth 2.0 authorization requests in flight (state + PKCE code verifier): in the database, not in one process's
// memory, so any instance can finish a flow that another started. Single use, like nonces.
export const oauthStates = pgTable(
  'oauth_states',
  {
    state: varchar('state', { length: 128 }).primaryKey(),
    provider: text('provider').$type<OAuthProvider>().notNull(),
    authorId: uuid('author_id')
      .notNull()
      .references(() => authors.id, { onDelete: 'cascade' }),
    codeVerifier: varchar('code_verifier', { length: 128 }).notNull(),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at').notNull(),
    consumedAt: timestamptz('consumed_at'),
  },
  (t) => [
    check('oauth_states_provider_valid', oneOf('provider', OAUTH_PROVIDERS)),
    check(
      'oauth_states_state_format',
      sql.raw(formatCheck('state', 'BETWEEN 22 AND 128', '^[A-Za-z0-9_-]+$')),
    ),
    // RFC 7636: 43..128 characters of the unreserved set.
    check(
      'oauth_states_code_verifier_format',
      sql.raw(formatCheck('code_verifier', 'BETWEEN 43 AND 128', '^[A-Za-z0-9._~-]+$')),
    ),
    check('oauth_states_expires_after_creation', sql`${t.expiresAt} > ${t.createdAt}`),
    index('oauth_states_expires_at_idx').on(t.expiresAt),
    index('oauth_states_author_id_idx').on(t.authorId),
  ],
);

export type Author = typeof authors.$inferSelect;
export type NewAuthor = typeof authors.$inferInsert;
export type Token = typeof tokens.$inferSelect;
export type NewToken = typeof tokens.$inferInsert;
export type MintEvent = typeof mintEvents.$inferSelect;
export type NewMintEvent = typeof mintEvents.$inferInsert;
export type ImageGenerationJob = typeof imageGenerationJobs.$inferSelect;
export type NewImageGenerationJob = typeof imageGenerationJobs.$inferInsert;
export type IpfsUploadRecord = typeof ipfsUploadRecords.$inferSelect;
export type NewIpfsUploadRecord = typeof ipfsUploadRecords.$inferInsert;
export type RevealTransaction = typeof revealTransactions.$inferSelect;
export type NewRevealTransaction = typeof revealTransactions.$inferInsert;
export type RevealAttempt = typeof revealAttempts.$inferSelect;
export type NewRevealAttempt = typeof revealAttempts.$inferInsert;
export type SystemStateRow = typeof systemState.$inferSelect;
export type AuthNonce = typeof authNonces.$inferSelect;
export type OAuthState = typeof oauthStates.$inferSelect;
export type NewOAuthState = typeof oauthStates.$inferInsert;
export type ContentBlob = typeof contentBlobs.$inferSelect;
export type NewContentBlob = typeof contentBlobs.$inferInsert;
export type RateLimitRow = typeof rateLimits.$inferSelect;
