// Metrics hot-path benchmark: the cost of one count on the device plane, the
// command path and the admin API (src/core/metrics.ts), and of one scrape.
//
//   node bench/metrics.ts [--calls N]     (default 2,000,000 per kind)

import { createMetrics } from '../src/core/metrics.ts';

const arg = process.argv.indexOf('--calls');
const N = arg > 0 ? Number(process.argv[arg + 1]) : 2_000_000;
const m = createMetrics({ nodeId: 'bench', defaultMetrics: true });
const route = m.adminRoute('/api/v1/devices', 'GET');
const kinds: [string, () => void][] = [
  ['device-plane count (m.device)', () => m.device('checkin', 'TokenUpdate', 'ok')],
  ['command count (m.commands)', () => m.commands('acknowledged')],
  ['admin request (route.observe: counter + histogram)', () => route.observe(200, 0.003)],
];
for (const [name, f] of kinds) {
  for (let i = 0; i < 100_000; i++) f();
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) f();
  console.log(`${name}: ${(Number(process.hrtime.bigint() - t) / N).toFixed(1)} ns/call`);
}
const owner = { type: 'token' as const, id: 'bench', permissions: new Set(['*']) };
for (let i = 0; i < 20; i++) await m.render(owner);
const t = process.hrtime.bigint();
for (let i = 0; i < 200; i++) await m.render(owner);
console.log(`scrape (render, no database sources): ${(Number(process.hrtime.bigint() - t) / 200 / 1e6).toFixed(2)} ms`);
