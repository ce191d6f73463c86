CREATE TABLE "authors" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"wallet_address" varchar(42) NOT NULL,
	"twitter_handle" varchar(255),
	"farcaster_handle" varchar(255),
	"prompt_text" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "authors_wallet_address_format" CHECK (wallet_address ~ '^0x[0-9a-fA-F]{40}$'),
	CONSTRAINT "authors_twitter_handle_format" CHECK ("authors"."twitter_handle" IS NULL OR "authors"."twitter_handle" ~ '^[A-Za-z0-9_]{1,15}$'),
	CONSTRAINT "authors_farcaster_handle_format" CHECK ("authors"."farcaster_handle" IS NULL OR "authors"."farcaster_handle" ~ '^[a-z0-9][a-z0-9.-]{0,31}$'),
	CONSTRAINT "authors_prompt_text_length" CHECK ("authors"."prompt_text" IS NULL OR char_length(btrim("authors"."prompt_text")) BETWEEN 1 AND 1000)
);
--> statement-breakpoint
CREATE TABLE "image_generation_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"token_id" uuid NOT NULL,
	"service" text NOT NULL,
	"status" text DEFAULT 'pending' NOT NULL,
	"external_job_id" text,
	"retry_count" integer DEFAULT 0 NOT NULL,
	"error_data" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "image_generation_jobs_status_valid" CHECK (status IN ('pending', 'running', 'completed', 'failed')),
	CONSTRAINT "image_generation_jobs_retry_count_non_negative" CHECK ("image_generation_jobs"."retry_count" >= 0)
);
--> statement-breakpoint
CREATE TABLE "ipfs_upload_records" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"token_id" uuid NOT NULL,
	"record_type" text NOT NULL,
	"cid" text,
	"status" text DEFAULT 'pending' NOT NULL,
	"retry_count" integer DEFAULT 0 NOT NULL,
	"error_data" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	CONSTRAINT "ipfs_upload_records_record_type_valid" CHECK (record_type IN ('image', 'metadata')),
	CONSTRAINT "ipfs_upload_records_status_valid" CHECK (status IN ('pending', 'uploading', 'completed', 'failed')),
	CONSTRAINT "ipfs_upload_records_retry_count_non_negative" CHECK ("ipfs_upload_records"."retry_count" >= 0),
	CONSTRAINT "ipfs_upload_records_cid_format" CHECK (cid IS NULL OR cid ~ '^(b[a-z2-7]{50,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$'),
	CONSTRAINT "ipfs_upload_records_completed_has_cid" CHECK ("ipfs_upload_records"."status" <> 'completed' OR "ipfs_upload_records"."cid" IS NOT NULL)
);
--> statement-breakpoint
CREATE TABLE "mint_events" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tx_hash" varchar(66) NOT NULL,
	"log_index" integer NOT NULL,
	"block_number" bigint NOT NULL,
	"block_timestamp" timestamp with time zone NOT NULL,
	"token_id" integer NOT NULL,
	"quantity" integer NOT NULL,
	"minter_address" varchar(42) NOT NULL,
	"author_wallet" varchar(42) NOT NULL,
	"total_paid_wei" numeric(78, 0) DEFAULT '0' NOT NULL,
	"detected_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "mint_events_tx_hash_log_index_uq" UNIQUE("tx_hash","log_index"),
	CONSTRAINT "mint_events_tx_hash_format" CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
	CONSTRAINT "mint_events_log_index_non_negative" CHECK ("mint_events"."log_index" >= 0),
	CONSTRAINT "mint_events_block_number_positive" CHECK ("mint_events"."block_number" > 0),
	CONSTRAINT "mint_events_token_id_positive" CHECK ("mint_events"."token_id" >= 1),
	CONSTRAINT "mint_events_quantity_range" CHECK (quantity BETWEEN 1 AND 50),
	CONSTRAINT "mint_events_minter_address_format" CHECK (minter_address ~ '^0x[0-9a-fA-F]{40}$'),
	CONSTRAINT "mint_events_author_wallet_format" CHECK (author_wallet ~ '^0x[0-9a-fA-F]{40}$'),
	CONSTRAINT "mint_events_total_paid_non_negative" CHECK ("mint_events"."total_paid_wei" >= 0)
);
--> statement-breakpoint
CREATE TABLE "reveal_transactions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"token_ids" uuid[] NOT NULL,
	"tx_hash" varchar(66),
	"nonce" bigint,
	"block_number" bigint,
	"gas_price_gwei" numeric(20, 9),
	"gas_used" bigint,
	"status" text DEFAULT 'pending' NOT NULL,
	"error_data" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	"confirmed_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reveal_transactions_tx_hash_uq" UNIQUE("tx_hash"),
	CONSTRAINT "reveal_transactions_token_ids_size" CHECK (cardinality(token_ids) BETWEEN 1 AND 50),
	CONSTRAINT "reveal_transactions_tx_hash_format" CHECK (tx_hash IS NULL OR tx_hash ~ '^0x[0-9a-f]{64}$'),
	CONSTRAINT "reveal_transactions_status_valid" CHECK (status IN ('pending', 'sent', 'confirmed', 'failed')),
	CONSTRAINT "reveal_transactions_sent_has_hash" CHECK ("reveal_transactions"."status" NOT IN ('sent', 'confirmed') OR "reveal_transactions"."tx_hash" IS NOT NULL),
	CONSTRAINT "reveal_transactions_nonce_non_negative" CHECK ("reveal_transactions"."nonce" IS NULL OR "reveal_transactions"."nonce" >= 0),
	CONSTRAINT "reveal_transactions_block_number_positive" CHECK ("reveal_transactions"."block_number" IS NULL OR "reveal_transactions"."block_number" > 0),
	CONSTRAINT "reveal_transactions_gas_price_non_negative" CHECK ("reveal_transactions"."gas_price_gwei" IS NULL OR "reveal_transactions"."gas_price_gwei" >= 0),
	CONSTRAINT "reveal_transactions_gas_used_non_negative" CHECK ("reveal_transactions"."gas_used" IS NULL OR "reveal_transactions"."gas_used" >= 0)
);
--> statement-breakpoint
CREATE TABLE "system_state" (
	"key" varchar(255) PRIMARY KEY NOT NULL,
	"state_value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "system_state_key_format" CHECK ("system_state"."key" ~ '^[A-Za-z0-9_]+$')
);
--> statement-breakpoint
CREATE TABLE "tokens_s0" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"token_id" integer NOT NULL,
	"author_id" uuid NOT NULL,
	"minter_address" varchar(42) NOT NULL,
	"status" text DEFAULT 'detected' NOT NULL,
	"mint_timestamp" timestamp with time zone NOT NULL,
	"image_cid" text,
	"metadata_cid" text,
	"error_data" jsonb,
	"generation_attempts" integer DEFAULT 0 NOT NULL,
	"upload_attempts" integer DEFAULT 0 NOT NULL,
	"reveal_attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lease_owner" text,
	"lease_expires_at" timestamp with time zone,
	"reveal_tx_hash" varchar(66),
	"revealed_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tokens_s0_token_id_uq" UNIQUE("token_id"),
	CONSTRAINT "tokens_s0_token_id_positive" CHECK ("tokens_s0"."token_id" >= 1),
	CONSTRAINT "tokens_s0_status_valid" CHECK (status IN ('detected', 'generating', 'uploading', 'ready', 'revealed', 'failed')),
	CONSTRAINT "tokens_s0_minter_address_format" CHECK (minter_address ~ '^0x[0-9a-fA-F]{40}$'),
	CONSTRAINT "tokens_s0_image_cid_format" CHECK (image_cid IS NULL OR image_cid ~ '^(b[a-z2-7]{50,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$'),
	CONSTRAINT "tokens_s0_metadata_cid_format" CHECK (metadata_cid IS NULL OR metadata_cid ~ '^(b[a-z2-7]{50,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$'),
	CONSTRAINT "tokens_s0_reveal_tx_hash_format" CHECK (reveal_tx_hash IS NULL OR reveal_tx_hash ~ '^0x[0-9a-f]{64}$'),
	CONSTRAINT "tokens_s0_attempts_non_negative" CHECK ("tokens_s0"."generation_attempts" >= 0 AND "tokens_s0"."upload_attempts" >= 0 AND "tokens_s0"."reveal_attempts" >= 0),
	CONSTRAINT "tokens_s0_lease_complete" CHECK (("tokens_s0"."lease_owner" IS NULL) = ("tokens_s0"."lease_expires_at" IS NULL)),
	CONSTRAINT "tokens_s0_ready_has_cids" CHECK ("tokens_s0"."status" <> 'ready' OR ("tokens_s0"."image_cid" IS NOT NULL AND "tokens_s0"."metadata_cid" IS NOT NULL)),
	CONSTRAINT "tokens_s0_revealed_has_metadata_cid" CHECK ("tokens_s0"."status" <> 'revealed' OR "tokens_s0"."metadata_cid" IS NOT NULL)
);
--> statement-breakpoint
ALTER TABLE "image_generation_jobs" ADD CONSTRAINT "image_generation_jobs_token_id_tokens_s0_id_fk" FOREIGN KEY ("token_id") REFERENCES "public"."tokens_s0"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" ADD CONSTRAINT "ipfs_upload_records_token_id_tokens_s0_id_fk" FOREIGN KEY ("token_id") REFERENCES "public"."tokens_s0"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tokens_s0" ADD CONSTRAINT "tokens_s0_author_id_authors_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."authors"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "authors_wallet_address_lower_uq" ON "authors" USING btree (lower("wallet_address"));--> statement-breakpoint
CREATE INDEX "image_generation_jobs_token_created_idx" ON "image_generation_jobs" USING btree ("token_id","created_at");--> statement-breakpoint
CREATE INDEX "ipfs_upload_records_token_created_idx" ON "ipfs_upload_records" USING btree ("token_id","created_at");--> statement-breakpoint
CREATE INDEX "mint_events_block_number_idx" ON "mint_events" USING btree ("block_number");--> statement-breakpoint
CREATE INDEX "reveal_transactions_status_created_idx" ON "reveal_transactions" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "tokens_s0_author_id_idx" ON "tokens_s0" USING btree ("author_id");--> statement-breakpoint
CREATE INDEX "tokens_s0_status_created_idx" ON "tokens_s0" USING btree ("status","created_at");--> statement-breakpoint
CREATE INDEX "tokens_s0_claim_idx" ON "tokens_s0" USING btree ("status","next_attempt_at","token_id") WHERE "tokens_s0"."status" IN ('detected', 'generating', 'uploading', 'ready');