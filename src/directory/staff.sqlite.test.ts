import { runDirectoryConformance } from './staff.suite.ts';

runDirectoryConformance('sqlite');
