// Entry point of the `rampart` command (bin/rampart.js imports this file).
import { runCli } from './program.ts';

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
