/** Offset paging for the small listing helpers; the token API uses its own cursor (tokens.listPage). */
export type Page = { limit: number; offset?: number };
