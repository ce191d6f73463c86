// The PostgreSQL NOTIFY channels of the service (one registry, like lock-keys.ts for advisory locks).

/** Payload: a token status (`detected`, `uploading`, `ready`): tokens in it were committed and may be claimed. */
export const TOKENS_CHANNEL = 'glisk_tokens';
