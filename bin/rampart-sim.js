#!/usr/bin/env node
// Launcher for rampart-sim; needs Node 24 (TypeScript type stripping).
import { createSimProgram } from '../src/sim/cli.ts';

createSimProgram()
  .parseAsync(process.argv)
  .catch((e) => {
    process.stderr.write(`rampart-sim: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  });
