// Plain-text output for the terminal. Device-reported text (names, versions)
// is attacker-controlled: every cell goes through sanitize().
import { sanitize } from './client.ts';

export function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return sanitize(String(v));
}

/** A left-aligned table with a header row; cells are sanitized and capped. */
export function table(headers: string[], rows: unknown[][], maxWidth = 40): string {
  const text = rows.map((r) => r.map((v) => truncate(cell(v), maxWidth)));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...text.map(line)].join('\n') + '\n';
}

/** "key: value" lines, keys aligned. */
export function fields(entries: Array<[string, unknown]>): string {
  const w = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${k.padEnd(w)}  ${cell(v)}`).join('\n') + '\n';
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}
