import { defineConfig } from 'drizzle-kit';

// drizzle-kit reads the schema and writes SQL migrations into drizzle/; generate needs no database.
// Studio and migrate get their URL from src/cli/studio.ts and src/cli/migrate.ts, which resolve it like the service.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://localhost:5432/glisk' },
  strict: true,
  verbose: true,
});
