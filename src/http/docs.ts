// /openapi.json, /docs (Swagger UI) and /redoc (ReDoc), all from local npm packages: they work with no internet.
// A Content-Security-Policy on the two pages keeps the browser from reaching out anyway (ReDoc's side menu
// carries a logo from a CDN; the policy blocks it and the menu hides the broken image).
import { createRequire } from 'node:module';
import type { Express, NextFunction, Request, Response } from 'express';
import swaggerUi from 'swagger-ui-express';
import type { OpenApiDocument } from './openapi.js';

const require = createRequire(import.meta.url);
const REDOC_BUNDLE = require.resolve('redoc/bundles/redoc.standalone.js');

const DOCS_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The paths served here with their methods, for the 405 answers of the app. */
export const DOCS_PATHS: Readonly<Record<string, readonly string[]>> = {
  '/openapi.json': ['get'],
  '/docs': ['get'],
  '/redoc': ['get'],
};

export function mountDocs(app: Express, document: OpenApiDocument): void {
  const json = JSON.stringify(document);
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(json);
  });

  const swaggerPage = swaggerUi.setup(document, {
    customSiteTitle: `${document.info.title} - Swagger UI`,
    // The default validator badge is an image fetched from an outside service.
    swaggerOptions: { validatorUrl: null },
  });
  app.get('/docs', (req: Request, res: Response, next: NextFunction) => {
    // The page's assets are relative (./swagger-ui.css): it must be served as /docs/, not /docs.
    if (!req.path.endsWith('/')) {
      const query = req.originalUrl.slice(req.originalUrl.split('?', 1)[0]?.length ?? 0);
      res.redirect(301, `/docs/${query}`);
      return;
    }
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    swaggerPage(req, res, next);
  });
  app.use('/docs', swaggerUi.serveFiles(document, { swaggerOptions: { validatorUrl: null } }));

  const redocPage = redocHtml(document.info.title);
  app.get('/redoc', (_req, res) => {
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    res.type('html').send(redocPage);
  });
  app.get('/redoc/redoc.standalone.js', (_req, res, next) => {
    res.sendFile(REDOC_BUNDLE, { maxAge: '1d' }, (error) => {
      if (error) next(error);
    });
  });
}

function redocHtml(title: string): string {
  const safeTitle = title.replace(/[<>&"]/g, '');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${safeTitle} - ReDoc</title>
    <style>body { margin: 0; padding: 0; }</style>
  </head>
  <body>
    <redoc spec-url="/openapi.json"></redoc>
    <script src="/redoc/redoc.standalone.js"></script>
  </body>
</html>
`;
}
