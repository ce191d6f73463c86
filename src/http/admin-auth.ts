// The operator routes' guard: `Authorization: Bearer <ADMIN_API_KEY>`, compared in constant time. Without a key
// configured the routes answer 503 ADMIN_NOT_CONFIGURED (production refuses to start without one).
import { BearerAuthError, ServiceUnavailableError } from '../errors.js';
import { bearerMatches } from '../lib/bearer.js';
import type { RouteAuth } from './route.js';

export const ADMIN_SECURITY_SCHEME = 'adminApiKey';

export function adminAuth(apiKey: string): RouteAuth {
  const expected = Buffer.from(apiKey, 'utf8');
  return {
    scheme: ADMIN_SECURITY_SCHEME,
    description: 'Operator routes: `Authorization: Bearer <ADMIN_API_KEY>`.',
    errors: {
      401: 'ADMIN_UNAUTHORIZED: Authorization: Bearer <ADMIN_API_KEY> is missing or wrong.',
      503: 'ADMIN_NOT_CONFIGURED: ADMIN_API_KEY is not set; or the database is unavailable.',
    },
    check(req) {
      if (expected.length === 0) {
        throw new ServiceUnavailableError(
          'ADMIN_NOT_CONFIGURED',
          'The operator routes are off: ADMIN_API_KEY is not set',
        );
      }
      if (!bearerMatches(req.get('authorization'), expected)) {
        throw new BearerAuthError(
          'ADMIN_UNAUTHORIZED',
          'This route needs Authorization: Bearer <ADMIN_API_KEY>',
          'operator',
        );
      }
    },
  };
}
