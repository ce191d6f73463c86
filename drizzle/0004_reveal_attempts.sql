CREATE TABLE "reveal_attempts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"reveal_transaction_id" uuid NOT NULL,
	"bump" integer NOT NULL,
	"nonce" bigint NOT NULL,
	"raw_transaction" text NOT NULL,
	"tx_hash" varchar(66) NOT NULL,
	"max_fee_per_gas_wei" numeric(78, 0) NOT NULL,
	"max_priority_fee_per_gas_wei" numeric(78, 0) NOT NULL,
	"gas_limit" bigint NOT NULL,
	"status" text DEFAULT 'signed' NOT NULL,
	"broadcast_error" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"broadcast_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reveal_attempts_tx_hash_uq" UNIQUE("tx_hash"),
	CONSTRAINT "reveal_attempts_reveal_transaction_bump_uq" UNIQUE("reveal_transaction_id","bump"),
	CONSTRAINT "reveal_attempts_bump_non_negative" CHECK ("reveal_attempts"."bump" >= 0),
	CONSTRAINT "reveal_attempts_nonce_non_negative" CHECK ("reveal_attempts"."nonce" >= 0),
	CONSTRAINT "reveal_attempts_tx_hash_format" CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
	CONSTRAINT "reveal_attempts_raw_transaction_format" CHECK ("reveal_attempts"."raw_transaction" ~ '^0x02[0-9a-f]+$'),
	CONSTRAINT "reveal_attempts_fees_valid" CHECK ("reveal_attempts"."max_priority_fee_per_gas_wei" >= 0 AND "reveal_attempts"."max_fee_per_gas_wei" >= "reveal_attempts"."max_priority_fee_per_gas_wei"),
	CONSTRAINT "reveal_attempts_gas_limit_positive" CHECK ("reveal_attempts"."gas_limit" > 0),
	CONSTRAINT "reveal_attempts_status_valid" CHECK (status IN ('signed', 'broadcast', 'rejected'))
);
--> statement-breakpoint
ALTER TABLE "reveal_attempts" ADD CONSTRAINT "reveal_attempts_reveal_transaction_nonce_fk" FOREIGN KEY ("reveal_transaction_id","nonce") REFERENCES "public"."reveal_transactions"("id","nonce") ON DELETE cascade ON UPDATE no action;