CREATE TABLE "rate_limits" (
	"key" varchar(100) PRIMARY KEY NOT NULL,
	"next_slot_at" timestamp with time zone NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "rate_limits_key_format" CHECK ("rate_limits"."key" ~ '^[a-z0-9_:.-]+$')
);
--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" ADD COLUMN "provider" text;--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" ADD COLUMN "computed_cid" text;--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" ADD CONSTRAINT "ipfs_upload_records_computed_cid_format" CHECK (computed_cid IS NULL OR computed_cid ~ '^(b[a-z2-7]{50,}|Qm[1-9A-HJ-NP-Za-km-z]{44})$');--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" ADD CONSTRAINT "ipfs_upload_records_provider_valid" CHECK ("ipfs_upload_records"."provider" IS NULL OR "ipfs_upload_records"."provider" IN ('local', 'kubo', 'pinata'));