// CSV for staff import and export (RFC 4180), pure. Columns (header row
// required, any order, unknown columns refused):
//   userName,externalId,displayName,givenName,familyName,email,phones,
//   department,employeeNumber,active,deviceIds,invitationIds
// phones, deviceIds and invitationIds hold ";"-separated lists; active is
// true/false (empty = true). Errors name the row and the field, never a value.
import { RampartError } from '../lib/errors.ts';
import type { StaffData, StaffRecord } from './types.ts';
import { validateStaff } from './validate.ts';
import type { StaffInput } from './validate.ts';
import { userNameKey } from './normalise.ts';

export const CSV_COLUMNS = ['userName', 'externalId', 'displayName', 'givenName', 'familyName', 'email', 'phones', 'department', 'employeeNumber', 'active', 'deviceIds', 'invitationIds'] as const;
export const MAX_CSV_ROWS = 100_000;
export const MAX_CSV_BYTES = 32 * 1024 * 1024;
const MAX_FIELD = 4096;

const bad = (message: string): RampartError => new RampartError('bad_request', message);

/** RFC 4180 with LF or CRLF line ends; a quoted field may span lines. */
export function parseCsv(text: string): string[][] {
  if (text.length > MAX_CSV_BYTES) throw bad('CSV too large');
  if (text.includes('\u0000')) throw bad('CSV contains NUL');
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let quoted = false;
  let wasQuoted = false;
  const endField = (): void => {
    if (field.length > MAX_FIELD) throw bad(`CSV field too long in row ${rows.length + 1}`);
    row.push(field);
    field = '';
    wasQuoted = false;
  };
  const endRow = (): void => {
    endField();
    if (!(row.length === 1 && row[0] === '' && !wasQuoted)) rows.push(row);
    if (rows.length > MAX_CSV_ROWS + 1) throw bad('too many CSV rows');
    row = [];
  };
  for (; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += c;
      continue;
    }
    if (c === '"') {
      if (field !== '' || wasQuoted) throw bad(`misplaced quote in CSV row ${rows.length + 1}`);
      quoted = true;
      wasQuoted = true;
    } else if (c === ',') endField();
    else if (c === '\n') endRow();
    else if (c === '\r') {
      if (text[i + 1] !== '\n') throw bad(`bare carriage return in CSV row ${rows.length + 1}`);
    } else {
      if (wasQuoted) throw bad(`text after a closing quote in CSV row ${rows.length + 1}`);
      field += c;
    }
  }
  if (quoted) throw bad('unterminated quote in CSV');
  if (field !== '' || row.length > 0 || wasQuoted) endRow();
  return rows;
}

export interface CsvRow {
  /** 1-based line number of the record in the file (header is row 1). */
  row: number;
  data?: StaffData;
  error?: string;
}

const list = (v: string): string[] => (v === '' ? [] : v.split(';').map((x) => x.trim()).filter((x) => x !== ''));

/** Header check, then each row validated independently; duplicates within the file are invalid. */
export function csvToStaff(text: string): CsvRow[] {
  const rows = parseCsv(text);
  if (rows.length === 0) throw bad('CSV has no header row');
  const header = (rows[0] as string[]).map((h) => h.trim());
  const cols = new Map<string, number>();
  header.forEach((h, i) => {
    if (!(CSV_COLUMNS as readonly string[]).includes(h)) throw bad(`unknown CSV column ${JSON.stringify(h.slice(0, 40).replace(/[^\x20-\x7e]/g, '?'))}`);
    if (cols.has(h)) throw bad('duplicate CSV column');
    cols.set(h, i);
  });
  if (!cols.has('userName')) throw bad('CSV needs a userName column');
  const out: CsvRow[] = rows.slice(1).map((cells, idx) => {
    const row = idx + 2;
    if (cells.length !== header.length) return { row, error: 'wrong number of fields' };
    const get = (c: string): string => (cols.has(c) ? (cells[cols.get(c) as number] as string) : '');
    const active = get('active').trim().toLowerCase();
    if (active !== '' && active !== 'true' && active !== 'false') return { row, error: 'invalid active' };
    const input: StaffInput = {
      userName: get('userName'),
      externalId: get('externalId') === '' ? null : get('externalId'),
      displayName: get('displayName'),
      givenName: get('givenName'),
      familyName: get('familyName'),
      email: get('email'),
      phones: list(get('phones')),
      department: get('department'),
      employeeNumber: get('employeeNumber'),
      active: active !== 'false',
      deviceIds: list(get('deviceIds')),
      invitationIds: list(get('invitationIds')),
    };
    try {
      return { row, data: validateStaff(input) };
    } catch (e) {
      return { row, error: e instanceof RampartError ? e.message : 'invalid row' };
    }
  });
  // Two rows for one identity cannot both be applied: both are invalid.
  const seen = new Map<string, number[]>();
  for (const r of out) {
    if (!r.data) continue;
    for (const k of [`u:${userNameKey(r.data.userName)}`, ...(r.data.externalId !== null ? [`e:${r.data.externalId}`] : [])]) seen.set(k, [...(seen.get(k) ?? []), r.row]);
  }
  for (const [k, at] of seen) {
    if (at.length < 2) continue;
    for (const r of out) if (at.includes(r.row)) {
      delete r.data;
      r.error = k.startsWith('u:') ? 'duplicate userName in file' : 'duplicate externalId in file';
    }
  }
  return out;
}

function cell(v: string): string {
  return /[",\r\n]/.test(v) || /^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function staffToCsvHeader(): string {
  return `${CSV_COLUMNS.join(',')}\r\n`;
}

export function staffToCsvRow(r: StaffRecord): string {
  const v: Record<(typeof CSV_COLUMNS)[number], string> = {
    userName: r.userName,
    externalId: r.externalId ?? '',
    displayName: r.displayName ?? '',
    givenName: r.givenName ?? '',
    familyName: r.familyName ?? '',
    email: r.email ?? '',
    phones: r.phones.join(';'),
    department: r.department ?? '',
    employeeNumber: r.employeeNumber ?? '',
    active: r.status === 'active' ? 'true' : 'false',
    deviceIds: r.deviceIds.join(';'),
    invitationIds: r.invitationIds.join(';'),
  };
  return `${CSV_COLUMNS.map((c) => cell(v[c])).join(',')}\r\n`;
}
