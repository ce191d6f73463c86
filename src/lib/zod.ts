// zod with the OpenAPI extension applied, the one place src/ takes zod from. zod 4 gives a schema its methods
// when the schema is built, so a schema built before `extendZodWithOpenApi` runs has no `.openapi(...)`: which
// module loads first (the service, a worker process, a test) must not decide whether a route's contract can
// be documented. Type-only imports of 'zod' are fine anywhere; eslint refuses value imports outside this file.
import { extendZodWithOpenApi } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';

extendZodWithOpenApi(z);

export { z };
