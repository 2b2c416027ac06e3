#!/usr/bin/env node
// Launcher: Node 24 runs the TypeScript sources directly (type stripping).
import '../src/cli/main.ts';
