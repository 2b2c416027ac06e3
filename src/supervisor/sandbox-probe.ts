// Test fixture: run by sandbox.test.ts under exactly the gateway's sandbox
// flags, it tries everything the gateway must not be able to do and reports
// what happened. It is never started by the server itself.
import fs from 'node:fs';

type Outcome = 'allowed' | string;

async function attempt(f: () => unknown | Promise<unknown>): Promise<Outcome> {
  try {
    await f();
    return 'allowed';
  } catch (e) {
    const err = e as { code?: string; name?: string };
    return err.code ?? err.name ?? 'error';
  }
}

process.once('message', async (raw: unknown) => {
  const { dataDir, dbFile, secretFile } = raw as { dataDir: string; dbFile: string; secretFile: string };
  const results: Record<string, Outcome> = {
    spawn: await attempt(async () => {
      const cp = await import('node:child_process');
      const r = cp.spawnSync('/bin/sh', ['-c', 'true']);
      if (r.error) throw r.error;
    }),
    exec: await attempt(async () => {
      const cp = await import('node:child_process');
      cp.execFileSync('/bin/true');
    }),
    writeFile: await attempt(() => fs.writeFileSync(`${dataDir}/pwned`, 'x')),
    writeTmp: await attempt(() => fs.writeFileSync('/tmp/rampart-gateway-pwned', 'x')),
    readSecret: await attempt(() => fs.readFileSync(secretFile)),
    readDb: await attempt(() => fs.readFileSync(dbFile)),
    readEtc: await attempt(() => fs.readFileSync('/etc/passwd')),
    sqlite: await attempt(async () => {
      const m = await import('node:sqlite');
      new m.DatabaseSync(dbFile, { readOnly: true }).prepare('select 1').get();
    }),
    worker: await attempt(async () => {
      const w = await import('node:worker_threads');
      new w.Worker('process.exit(0)', { eval: true });
    }),
    eval: await attempt(() => {
      // eslint-disable-next-line no-eval -- this probe proves the gateway sandbox refuses eval
      const indirectEval = globalThis.eval;
      indirectEval('1 + 1');
    }),
    newFunction: await attempt(() => {
      const F = Function;
      F('return 1')();
    }),
    secretsInEnv: Object.keys(process.env).some((k) => k.startsWith('RAMPART_')) ? 'allowed' : 'absent',
  };
  process.send!(results, () => process.exit(0));
});
