// /dashboard: the operator page (public/dashboard/), static files from this project only. It reads
// GET /api/pipeline/overview; a Content-Security-Policy keeps it from loading or sending anything elsewhere.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Express } from 'express';

// src/http/ in development and dist/http/ in the image are both two levels below the project root.
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DASHBOARD_DIR = path.join(ROOT, 'public', 'dashboard');

const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const DASHBOARD_PATHS: Readonly<Record<string, readonly string[]>> = { '/dashboard': ['get'] };

export function mountDashboard(app: Express): void {
  const security = (res: express.Response) => {
    res.set('Content-Security-Policy', DASHBOARD_CSP);
    res.set('X-Content-Type-Options', 'nosniff');
    res.set('Referrer-Policy', 'no-referrer');
  };
  app.get('/dashboard', (_req, res, next) => {
    security(res);
    res.set('Cache-Control', 'no-cache');
    res.sendFile(path.join(DASHBOARD_DIR, 'index.html'), (error) => {
      if (error) next(error);
    });
  });
  app.use(
    '/dashboard/assets',
    express.static(DASHBOARD_DIR, {
      index: false,
      fallthrough: true,
      setHeaders: (res) => {
        security(res);
        res.set('Cache-Control', 'no-cache');
      },
    }),
  );
}
