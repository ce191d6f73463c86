// node --test loads its reporters before the --import hooks (tsx) are in place, so the TypeScript reporter
// is loaded through tsx's API.
import { tsImport } from 'tsx/esm/api';

const { default: reporter } = await tsImport('./test-reporter.ts', import.meta.url);
export default reporter;
