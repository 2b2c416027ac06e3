// Writes openapi/admin.json from the admin route definitions.
//   node scripts/gen-openapi.ts           regenerate
//   node scripts/gen-openapi.ts --check   exit 1 when the committed file is stale
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenApi } from '../src/admin/openapi.ts';
import { ROUTES } from '../src/admin/routes/index.ts';

export const OPENAPI_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'openapi', 'admin.json');

export function renderOpenApi(): string {
  return JSON.stringify(buildOpenApi(ROUTES), null, 2) + '\n';
}

function main(argv: string[]): number {
  const text = renderOpenApi();
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(OPENAPI_FILE, 'utf8');
    } catch {
      // missing counts as stale
    }
    if (current !== text) {
      process.stderr.write('openapi/admin.json is stale: run `npm run openapi`\n');
      return 1;
    }
    return 0;
  }
  mkdirSync(path.dirname(OPENAPI_FILE), { recursive: true });
  writeFileSync(OPENAPI_FILE, text);
  process.stdout.write(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}\n`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
