CREATE TABLE "auth_nonces" (
	"nonce" varchar(64) PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"consumed_at" timestamp with time zone,
	CONSTRAINT "auth_nonces_nonce_format" CHECK ("auth_nonces"."nonce" ~ '^[A-Za-z0-9]{8,64}$'),
	CONSTRAINT "auth_nonces_expires_after_creation" CHECK ("auth_nonces"."expires_at" > "auth_nonces"."created_at")
);
--> statement-breakpoint
CREATE TABLE "oauth_states" (
	"state" varchar(128) PRIMARY KEY NOT NULL,
	"provider" text NOT NULL,
	"author_id" uuid NOT NULL,
	"code_verifier" varchar(128) NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"consumed_at" timestamp with time zone,
	CONSTRAINT "oauth_states_provider_valid" CHECK (provider IN ('x')),
	CONSTRAINT "oauth_states_state_format" CHECK ("oauth_states"."state" ~ '^[A-Za-z0-9_-]{22,128}$'),
	CONSTRAINT "oauth_states_code_verifier_format" CHECK ("oauth_states"."code_verifier" ~ '^[A-Za-z0-9._~-]{43,128}$'),
	CONSTRAINT "oauth_states_expires_after_creation" CHECK ("oauth_states"."expires_at" > "oauth_states"."created_at")
);
--> statement-breakpoint
ALTER TABLE "oauth_states" ADD CONSTRAINT "oauth_states_author_id_authors_id_fk" FOREIGN KEY ("author_id") REFERENCES "public"."authors"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "auth_nonces_expires_at_idx" ON "auth_nonces" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "oauth_states_expires_at_idx" ON "oauth_states" USING btree ("expires_at");--> statement-breakpoint
CREATE INDEX "oauth_states_author_id_idx" ON "oauth_states" USING btree ("author_id");