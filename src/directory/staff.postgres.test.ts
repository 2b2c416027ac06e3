// The directory conformance suite on PostgreSQL (random schema per test);
// fails instead of skipping when RAMPART_TEST_REQUIRE_POSTGRES=1.
import { test } from 'node:test';
import { postgresUnavailable } from './testkit.ts';
import { runDirectoryConformance } from './staff.suite.ts';

const reason = await postgresUnavailable();
if (reason === undefined) runDirectoryConformance('postgres');
else if (process.env.RAMPART_TEST_REQUIRE_POSTGRES === '1') {
  test('PostgreSQL is reachable', () => {
    throw new Error(`PostgreSQL required but unreachable: ${reason}`);
  });
} else test('staff directory on PostgreSQL', { skip: `PostgreSQL suite skipped: ${reason}` }, () => {});
