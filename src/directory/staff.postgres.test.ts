// The directory conformance suite on PostgreSQL (random schema per test);
// fails instead of skipping when RAMPART_TEST_REQUIRE_POSTGRES=1.
import { withPostgres } from '../storage/postgres/testing.ts';
import { runDirectoryConformance } from './staff.suite.ts';

await withPostgres('staff directory on PostgreSQL', () => runDirectoryConformance('postgres'));
