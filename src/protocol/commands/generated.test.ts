// The generated files are committed; this checks they match the generator's
// output (when Apple's schema folder is present) and that they typecheck as data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generate } from '../../../scripts/gen-commands.ts';

const schemaDir = fileURLToPath(new URL('../../../../shared/apple-device-management/mdm/commands', import.meta.url));

test('committed generated files match the generator output', { skip: existsSync(schemaDir) ? false : 'schema folder absent' }, () => {
  const files = generate();
  assert.deepEqual([...files.keys()].sort(), ['checkin.ts', 'commands.ts', 'types.ts']);
  for (const [name, text] of files) {
    const onDisk = readFileSync(new URL(`./generated/${name}`, import.meta.url), 'utf8');
    assert.equal(onDisk, text, `${name} is stale: run npm run gen`);
    assert.match(text, /^\/\/ GENERATED FILE - DO NOT EDIT\./);
    assert.match(text, /npm run gen/);
  }
  // Deterministic: a second run gives identical output.
  assert.deepEqual(generate(), files);
});
