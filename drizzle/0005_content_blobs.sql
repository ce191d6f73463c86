CREATE TABLE "content_blobs" (
	"cid" text PRIMARY KEY NOT NULL,
	"media_type" text NOT NULL,
	"size_bytes" integer NOT NULL,
	"bytes" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "content_blobs_cid_format" CHECK ("content_blobs"."cid" ~ '^b[a-z2-7]{50,}$'),
	CONSTRAINT "content_blobs_media_type_valid" CHECK (media_type IN ('image/png', 'image/jpeg', 'image/webp', 'application/json')),
	CONSTRAINT "content_blobs_size_matches" CHECK ("content_blobs"."size_bytes" = octet_length("content_blobs"."bytes"))
);
--> statement-breakpoint
-- Added by hand (drizzle-kit cannot express column storage): images arrive compressed (PNG, WebP, JPEG), so
-- PostgreSQL's TOAST compression would spend CPU on every write for nothing; store them out of line as they are.
ALTER TABLE "content_blobs" ALTER COLUMN "bytes" SET STORAGE EXTERNAL;
