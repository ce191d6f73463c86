// The catalog snapshot that `npm run db:check-migrate` compares (scripts/schema-snapshot.ts): two databases
// migrated from the same drizzle/ agree, and each kind of schema difference a migration tool could leave is
// seen and named.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  diffSchemas,
  readSchema,
  snapshotSchema,
  type SchemaSnapshot,
} from '../../scripts/schema-snapshot.js';
import { createTestDatabase, type TestDatabase } from '../helpers/database.js';

describe('schema snapshots for comparing migrated databases', () => {
  let left: TestDatabase;
  let right: TestDatabase;
  let reference: SchemaSnapshot;
  before(async () => {
    [left, right] = await Promise.all([createTestDatabase({ max: 1 }), createTestDatabase({ max: 1 })]);
    reference = await readSchema(left.url);
  });
  after(async () => {
    await Promise.all([left?.drop(), right?.drop()]);
  });

  it('reads tables, columns, constraints, indexes and the recorded migrations; two migrated databases agree', async () => {
    assert.ok(reference.objects.includes('relation public.tokens_s0 kind=r'));
    assert.ok(
      reference.objects.some((line) => line.startsWith('column public.tokens_s0.status text not_null=t ')),
    );
    assert.ok(
      reference.objects.some((line) =>
        line.startsWith('constraint public.tokens_s0 tokens_s0_status_valid: CHECK'),
      ),
    );
    assert.ok(reference.objects.some((line) => line.startsWith('index CREATE UNIQUE INDEX')));
    assert.ok(reference.migrations.length >= 2);
    assert.deepEqual(diffSchemas('left', reference, 'right', await readSchema(right.url)), []);
  });

  // Each change is made and undone in one transaction that rolls back, on the right database only.
  const changes: Array<[string, string, RegExp]> = [
    [
      'an index',
      'create index extra_idx on tokens_s0 (created_at)',
      /only in right:\n {2}index CREATE INDEX extra_idx/,
    ],
    [
      'a default',
      `alter table tokens_s0 alter column status set default 'failed'`,
      /column public\.tokens_s0\.status .*default='failed'/,
    ],
    [
      'a NOT NULL',
      'alter table tokens_s0 alter column status drop not null',
      /column public\.tokens_s0\.status text not_null=f /,
    ],
    [
      'a CHECK',
      'alter table tokens_s0 add constraint extra_check check (token_id < 10)',
      /constraint public\.tokens_s0 extra_check: CHECK/,
    ],
    [
      'a column type',
      'alter table tokens_s0 alter column status type varchar(20)',
      /status character varying\(20\)/,
    ],
    ['a table', 'create table extra_table (id int)', /relation public\.extra_table kind=r/],
    [
      'a function and trigger',
      `create function extra_fn() returns trigger language plpgsql as 'begin return new; end';
      create trigger extra_trigger before insert on tokens_s0 for each row execute function extra_fn()`,
      /trigger CREATE TRIGGER extra_trigger/,
    ],
    [
      'a recorded migration',
      'delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations)',
      /drizzle\.__drizzle_migrations differs/,
    ],
  ];
  for (const [what, statement, expected] of changes) {
    it(`names ${what} that only one database has`, async () => {
      await assert.rejects(
        right.sql.begin(async (tx) => {
          await tx.unsafe(statement);
          const problems = diffSchemas('left', reference, 'right', await snapshotSchema(tx));
          assert.match(problems.join('\n'), expected);
          throw new Error('roll back');
        }),
        /roll back/,
      );
    });
  }
});
