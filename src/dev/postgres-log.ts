// How the embedded PostgreSQL tooling reports what it does: one callback, a message and its level.
export type EmbeddedPostgresLogLevel = 'debug' | 'info';
