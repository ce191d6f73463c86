CREATE TABLE "token_status_counts" (
	"status" text NOT NULL,
	"count" bigint NOT NULL,
	CONSTRAINT "token_status_counts_status_valid" CHECK (status IN ('detected', 'generating', 'uploading', 'ready', 'revealed', 'failed'))
);
--> statement-breakpoint
-- Written by hand below this line (drizzle-kit cannot express triggers): the triggers that keep
-- token_status_counts, and its first rows. Statement-level triggers with transition tables: one insert of at
-- most one row per status per statement (a grouped finish of 50 tokens adds two rows, not 100), and a statement
-- that changes no status (a lease renewal) adds none. The CREATE TRIGGER locks tokens_s0 against writes until
-- the migration commits, so the first rows count exactly the tokens the triggers will not see.
CREATE FUNCTION "token_status_counts_inserted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "token_status_counts" ("status", "count")
    SELECT "status", count(*) FROM "new_tokens" GROUP BY "status";
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION "token_status_counts_updated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "token_status_counts" ("status", "count")
    SELECT "status", sum("change") FROM (
      SELECT "status", -1 AS "change" FROM "old_tokens"
      UNION ALL
      SELECT "status", 1 AS "change" FROM "new_tokens"
    ) AS "moved"
    GROUP BY "status" HAVING sum("change") <> 0;
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION "token_status_counts_deleted"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO "token_status_counts" ("status", "count")
    SELECT "status", -count(*) FROM "old_tokens" GROUP BY "status";
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE FUNCTION "token_status_counts_truncated"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM "token_status_counts";
  RETURN NULL;
END $$;--> statement-breakpoint
CREATE TRIGGER "tokens_s0_status_counts_insert" AFTER INSERT ON "tokens_s0"
  REFERENCING NEW TABLE AS "new_tokens" FOR EACH STATEMENT EXECUTE FUNCTION "token_status_counts_inserted"();--> statement-breakpoint
CREATE TRIGGER "tokens_s0_status_counts_update" AFTER UPDATE ON "tokens_s0"
  REFERENCING OLD TABLE AS "old_tokens" NEW TABLE AS "new_tokens"
  FOR EACH STATEMENT EXECUTE FUNCTION "token_status_counts_updated"();--> statement-breakpoint
CREATE TRIGGER "tokens_s0_status_counts_delete" AFTER DELETE ON "tokens_s0"
  REFERENCING OLD TABLE AS "old_tokens" FOR EACH STATEMENT EXECUTE FUNCTION "token_status_counts_deleted"();--> statement-breakpoint
CREATE TRIGGER "tokens_s0_status_counts_truncate" AFTER TRUNCATE ON "tokens_s0"
  FOR EACH STATEMENT EXECUTE FUNCTION "token_status_counts_truncated"();--> statement-breakpoint
INSERT INTO "token_status_counts" ("status", "count")
  SELECT "status", count(*) FROM "tokens_s0" GROUP BY "status";
