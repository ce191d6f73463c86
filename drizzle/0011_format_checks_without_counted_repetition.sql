-- The format checks without counted repetition ({40}, {50,}): PostgreSQL's regex engine builds a DFA state per
-- count on every match (17-20 µs per CID checked, against under 1 µs for `+` with the length tested apart), and a
-- row's checks run on every update of it. Same rules, same names (src/db/schema.ts formatCheck).
ALTER TABLE "auth_nonces" DROP CONSTRAINT "auth_nonces_nonce_format";--> statement-breakpoint
ALTER TABLE "authors" DROP CONSTRAINT "authors_wallet_address_format";--> statement-breakpoint
ALTER TABLE "authors" DROP CONSTRAINT "authors_twitter_handle_format";--> statement-breakpoint
ALTER TABLE "authors" DROP CONSTRAINT "authors_farcaster_handle_format";--> statement-breakpoint
ALTER TABLE "content_blobs" DROP CONSTRAINT "content_blobs_cid_format";--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" DROP CONSTRAINT "ipfs_upload_records_cid_format";--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" DROP CONSTRAINT "ipfs_upload_records_computed_cid_format";--> statement-breakpoint
ALTER TABLE "mint_events" DROP CONSTRAINT "mint_events_tx_hash_format";--> statement-breakpoint
ALTER TABLE "mint_events" DROP CONSTRAINT "mint_events_minter_address_format";--> statement-breakpoint
ALTER TABLE "mint_events" DROP CONSTRAINT "mint_events_author_wallet_format";--> statement-breakpoint
ALTER TABLE "oauth_states" DROP CONSTRAINT "oauth_states_state_format";--> statement-breakpoint
ALTER TABLE "oauth_states" DROP CONSTRAINT "oauth_states_code_verifier_format";--> statement-breakpoint
ALTER TABLE "reveal_attempts" DROP CONSTRAINT "reveal_attempts_tx_hash_format";--> statement-breakpoint
ALTER TABLE "reveal_transactions" DROP CONSTRAINT "reveal_transactions_tx_hash_format";--> statement-breakpoint
ALTER TABLE "reveal_transactions" DROP CONSTRAINT "reveal_transactions_keeper_address_format";--> statement-breakpoint
ALTER TABLE "tokens_s0" DROP CONSTRAINT "tokens_s0_minter_address_format";--> statement-breakpoint
ALTER TABLE "tokens_s0" DROP CONSTRAINT "tokens_s0_image_cid_format";--> statement-breakpoint
ALTER TABLE "tokens_s0" DROP CONSTRAINT "tokens_s0_metadata_cid_format";--> statement-breakpoint
ALTER TABLE "tokens_s0" DROP CONSTRAINT "tokens_s0_reveal_tx_hash_format";--> statement-breakpoint
ALTER TABLE "auth_nonces" ADD CONSTRAINT "auth_nonces_nonce_format" CHECK ((char_length(nonce) BETWEEN 8 AND 64 AND nonce ~ '^[A-Za-z0-9]+$'));--> statement-breakpoint
ALTER TABLE "authors" ADD CONSTRAINT "authors_wallet_address_format" CHECK ((char_length(wallet_address) = 42 AND wallet_address ~ '^0x[0-9a-fA-F]+$'));--> statement-breakpoint
ALTER TABLE "authors" ADD CONSTRAINT "authors_twitter_handle_format" CHECK (twitter_handle IS NULL OR (char_length(twitter_handle) BETWEEN 1 AND 15 AND twitter_handle ~ '^[A-Za-z0-9_]+$'));--> statement-breakpoint
ALTER TABLE "authors" ADD CONSTRAINT "authors_farcaster_handle_format" CHECK (farcaster_handle IS NULL OR (char_length(farcaster_handle) <= 32 AND farcaster_handle ~ '^[a-z0-9][a-z0-9.-]*$'));--> statement-breakpoint
ALTER TABLE "content_blobs" ADD CONSTRAINT "content_blobs_cid_format" CHECK ((char_length(cid) >= 51 AND cid ~ '^b[a-z2-7]+$'));--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" ADD CONSTRAINT "ipfs_upload_records_cid_format" CHECK (cid IS NULL OR ((char_length(cid) >= 51 AND cid ~ '^b[a-z2-7]+$') OR (char_length(cid) = 46 AND cid ~ '^Qm[1-9A-HJ-NP-Za-km-z]+$')));--> statement-breakpoint
ALTER TABLE "ipfs_upload_records" ADD CONSTRAINT "ipfs_upload_records_computed_cid_format" CHECK (computed_cid IS NULL OR ((char_length(computed_cid) >= 51 AND computed_cid ~ '^b[a-z2-7]+$') OR (char_length(computed_cid) = 46 AND computed_cid ~ '^Qm[1-9A-HJ-NP-Za-km-z]+$')));--> statement-breakpoint
ALTER TABLE "mint_events" ADD CONSTRAINT "mint_events_tx_hash_format" CHECK ((char_length(tx_hash) = 66 AND tx_hash ~ '^0x[0-9a-f]+$'));--> statement-breakpoint
ALTER TABLE "mint_events" ADD CONSTRAINT "mint_events_minter_address_format" CHECK ((char_length(minter_address) = 42 AND minter_address ~ '^0x[0-9a-fA-F]+$'));--> statement-breakpoint
ALTER TABLE "mint_events" ADD CONSTRAINT "mint_events_author_wallet_format" CHECK ((char_length(author_wallet) = 42 AND author_wallet ~ '^0x[0-9a-fA-F]+$'));--> statement-breakpoint
ALTER TABLE "oauth_states" ADD CONSTRAINT "oauth_states_state_format" CHECK ((char_length(state) BETWEEN 22 AND 128 AND state ~ '^[A-Za-z0-9_-]+$'));--> statement-breakpoint
ALTER TABLE "oauth_states" ADD CONSTRAINT "oauth_states_code_verifier_format" CHECK ((char_length(code_verifier) BETWEEN 43 AND 128 AND code_verifier ~ '^[A-Za-z0-9._~-]+$'));--> statement-breakpoint
ALTER TABLE "reveal_attempts" ADD CONSTRAINT "reveal_attempts_tx_hash_format" CHECK ((char_length(tx_hash) = 66 AND tx_hash ~ '^0x[0-9a-f]+$'));--> statement-breakpoint
ALTER TABLE "reveal_transactions" ADD CONSTRAINT "reveal_transactions_tx_hash_format" CHECK (tx_hash IS NULL OR (char_length(tx_hash) = 66 AND tx_hash ~ '^0x[0-9a-f]+$'));--> statement-breakpoint
ALTER TABLE "reveal_transactions" ADD CONSTRAINT "reveal_transactions_keeper_address_format" CHECK (keeper_address IS NULL OR (char_length(keeper_address) = 42 AND keeper_address ~ '^0x[0-9a-f]+$'));--> statement-breakpoint
ALTER TABLE "tokens_s0" ADD CONSTRAINT "tokens_s0_minter_address_format" CHECK ((char_length(minter_address) = 42 AND minter_address ~ '^0x[0-9a-fA-F]+$'));--> statement-breakpoint
ALTER TABLE "tokens_s0" ADD CONSTRAINT "tokens_s0_image_cid_format" CHECK (image_cid IS NULL OR ((char_length(image_cid) >= 51 AND image_cid ~ '^b[a-z2-7]+$') OR (char_length(image_cid) = 46 AND image_cid ~ '^Qm[1-9A-HJ-NP-Za-km-z]+$')));--> statement-breakpoint
ALTER TABLE "tokens_s0" ADD CONSTRAINT "tokens_s0_metadata_cid_format" CHECK (metadata_cid IS NULL OR ((char_length(metadata_cid) >= 51 AND metadata_cid ~ '^b[a-z2-7]+$') OR (char_length(metadata_cid) = 46 AND metadata_cid ~ '^Qm[1-9A-HJ-NP-Za-km-z]+$')));--> statement-breakpoint
ALTER TABLE "tokens_s0" ADD CONSTRAINT "tokens_s0_reveal_tx_hash_format" CHECK (reveal_tx_hash IS NULL OR (char_length(reveal_tx_hash) = 66 AND reveal_tx_hash ~ '^0x[0-9a-f]+$'));