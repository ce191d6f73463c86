// A database's schema as sorted lines of text read from the catalog, to compare two databases: what
// pg_dump --schema-only would show (the machine's pg_dump may be older than the server, so it is not used).
import postgres from 'postgres';

export type SchemaSnapshot = {
  /** One line per schema, relation, column, constraint, index, sequence, function, trigger, type, extension. */
  objects: string[];
  /** `hash created_at` of each row of drizzle.__drizzle_migrations, in order; empty without that table. */
  migrations: string[];
};

/** The snapshot of the database at `url` (every user schema, drizzle's included). */
export async function readSchema(url: string): Promise<SchemaSnapshot> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    return await snapshotSchema(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The same through a connection or transaction of the caller's (a transaction sees its own changes). */
export async function snapshotSchema(sql: Pick<postgres.Sql, 'unsafe'>): Promise<SchemaSnapshot> {
  const userSchemas = `n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast') and n.nspname not like 'pg_temp%' and n.nspname not like 'pg_toast_temp%'`;
  const rows = await sql.unsafe<Array<{ line: string }>>(`
    select 'schema ' || n.nspname as line from pg_namespace n where ${userSchemas}
    union all
    select format('relation %s.%s kind=%s', n.nspname, c.relname, c.relkind)
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where ${userSchemas} and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
    union all
    select format('column %s.%s.%s %s not_null=%s default=%s identity=%s generated=%s',
                  n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), a.attidentity, a.attgenerated)
      from pg_attribute a
      join pg_class c on c.oid = a.attrelid
      join pg_namespace n on n.oid = c.relnamespace
      left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
      where ${userSchemas} and c.relkind in ('r', 'p', 'v', 'm', 'f') and a.attnum > 0 and not a.attisdropped
    union all
    select format('constraint %s.%s %s: %s', n.nspname, c.relname, k.conname, pg_get_constraintdef(k.oid))
      from pg_constraint k
      join pg_class c on c.oid = k.conrelid
      join pg_namespace n on n.oid = c.relnamespace
      where ${userSchemas}
    union all
    select 'index ' || pg_get_indexdef(i.indexrelid)
      from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
      where ${userSchemas}
    union all
    select format('sequence %s.%s %s start=%s increment=%s', n.nspname, c.relname,
                  format_type(s.seqtypid, null), s.seqstart, s.seqincrement)
      from pg_sequence s join pg_class c on c.oid = s.seqrelid join pg_namespace n on n.oid = c.relnamespace
    union all
    select 'function ' || pg_get_functiondef(p.oid)
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where ${userSchemas} and p.prokind in ('f', 'p')
    union all
    select 'trigger ' || pg_get_triggerdef(t.oid) from pg_trigger t where not t.tgisinternal
    union all
    select format('type %s.%s kind=%s labels=%s', n.nspname, t.typname, t.typtype,
                  (select string_agg(e.enumlabel, ',' order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid))
      from pg_type t join pg_namespace n on n.oid = t.typnamespace
      where ${userSchemas} and t.typtype in ('e', 'd', 'c')
        and not exists (select 1 from pg_class c where c.reltype = t.oid)
    union all
    select 'extension ' || e.extname from pg_extension e where e.extname <> 'plpgsql'
  `);
  const [table] = await sql.unsafe<[{ exists: boolean }]>(
    `select to_regclass('drizzle.__drizzle_migrations') is not null as exists`,
  );
  const migrations = table?.exists
    ? (
        await sql.unsafe<Array<{ line: string }>>(
          `select hash || ' ' || created_at::text as line from drizzle.__drizzle_migrations order by id`,
        )
      ).map((row) => row.line)
    : [];
  return { objects: rows.map((row) => row.line).sort(), migrations };
}

/** What differs between two snapshots, one paragraph per kind of difference; empty when they agree. */
export function diffSchemas(
  leftName: string,
  left: SchemaSnapshot,
  rightName: string,
  right: SchemaSnapshot,
): string[] {
  const problems: string[] = [];
  const onlyLeft = left.objects.filter((line) => !right.objects.includes(line));
  const onlyRight = right.objects.filter((line) => !left.objects.includes(line));
  if (onlyLeft.length > 0) problems.push(`only in ${leftName}:\n  ${onlyLeft.join('\n  ')}`);
  if (onlyRight.length > 0) problems.push(`only in ${rightName}:\n  ${onlyRight.join('\n  ')}`);
  if (left.migrations.join('\n') !== right.migrations.join('\n')) {
    problems.push(
      `drizzle.__drizzle_migrations differs:\n  ${leftName}: ${left.migrations.join(', ') || '(none)'}\n` +
        `  ${rightName}: ${right.migrations.join(', ') || '(none)'}`,
    );
  }
  return problems;
}
