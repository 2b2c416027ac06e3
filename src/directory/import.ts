// CSV import: every row validated; if any row is invalid nothing is written
// (the valid rows are still reported with what they would do); otherwise all
// rows are applied in one transaction. The report holds row numbers,
// outcomes, staff ids and field-naming errors: no personal data.
import type { Actor } from '../services/types.ts';
import { csvToStaff } from './csv.ts';
import type { ImportOutcome, StaffDirectory } from './staff.ts';

export interface ImportReportRow {
  row: number;
  outcome: ImportOutcome | 'invalid';
  id?: string;
  error?: string;
}

export interface ImportReport {
  dryRun: boolean;
  applied: boolean;
  counts: Record<ImportOutcome | 'invalid', number>;
  rows: ImportReportRow[];
}

export async function importStaffCsv(dir: StaffDirectory, actor: Actor, csv: string, opts: { dryRun: boolean }): Promise<ImportReport> {
  const parsed = csvToStaff(csv);
  const valid = parsed.filter((r) => r.data !== undefined);
  const anyInvalid = valid.length !== parsed.length;
  const dryRun = opts.dryRun || anyInvalid;
  const outcomes = valid.length > 0 ? await dir.upsertMany(actor, valid.map((r) => r.data!), { dryRun }) : [];
  const byRow = new Map(valid.map((r, i) => [r.row, outcomes[i]!]));
  const counts = { created: 0, updated: 0, unchanged: 0, invalid: 0 };
  const rows: ImportReportRow[] = parsed.map((r) => {
    const o = byRow.get(r.row);
    if (!o) {
      counts.invalid++;
      return { row: r.row, outcome: 'invalid', error: r.error ?? 'invalid row' };
    }
    counts[o.outcome]++;
    return o.outcome === 'created' && dryRun ? { row: r.row, outcome: o.outcome } : { row: r.row, outcome: o.outcome, id: o.id };
  });
  return { dryRun: opts.dryRun, applied: !dryRun, counts, rows };
}
