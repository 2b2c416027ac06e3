// SCIM filter parser (RFC 7644 §3.4.2.2), pure. Grammar accepted:
//   filter  = or
//   or      = and *("or" and)
//   and     = unary *("and" unary)
//   unary   = "(" filter ")" / attrPath "pr" / attrPath compareOp value
//             / attrPath "[" valFilter "]"  (e.g. emails[type eq "work"])
//   value   = JSON string / number / true / false / null
// "not" is refused (unsupported). Limits: 1 KiB of filter, 16 leaves,
// nesting 8. Errors are ScimError(400, "invalidFilter") with a fixed message.
import { ScimError } from './errors.ts';

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type ScimValue = string | number | boolean | null;

export type Filter =
  | { kind: 'cmp'; attr: string; op: CompareOp; value: ScimValue }
  | { kind: 'pr'; attr: string }
  | { kind: 'and' | 'or'; left: Filter; right: Filter }
  | { kind: 'valuePath'; attr: string; filter: Filter };

const OPS = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
export const MAX_FILTER_LENGTH = 1024;
const MAX_LEAVES = 16;
const MAX_DEPTH = 8;
// attrPath: optional URN prefix ("urn:...:User:"), attribute name, optional ".sub".
const ATTR = /^(?:urn:[A-Za-z0-9:._-]+:)?[A-Za-z][A-Za-z0-9_$-]*(?:\.[A-Za-z][A-Za-z0-9_$-]*)?/;

const bad = (detail: string): ScimError => new ScimError(400, 'invalidFilter', 'invalid filter', detail);

export function parseFilter(text: string): Filter {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_FILTER_LENGTH) throw bad('length');
  if (/[\u0000-\u001f]/.test(text)) throw bad('control character');
  let i = 0;
  let leaves = 0;
  const ws = (): void => {
    while (text[i] === ' ') i++;
  };
  const word = (): string => {
    const m = /^[A-Za-z]+/.exec(text.slice(i));
    return m ? m[0] : '';
  };
  const attrPath = (): string => {
    const m = ATTR.exec(text.slice(i));
    if (!m) throw bad('attribute expected');
    i += m[0].length;
    return m[0];
  };
  const value = (): ScimValue => {
    ws();
    if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw bad('unterminated string');
      let v: unknown;
      try {
        v = JSON.parse(text.slice(i, j + 1));
      } catch {
        throw bad('bad string');
      }
      i = j + 1;
      return v as string;
    }
    const m = /^(?:true|false|null|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9])/.exec(text.slice(i));
    if (!m) throw bad('value expected');
    i += m[0].length;
    return JSON.parse(m[0]) as ScimValue;
  };
  const unary = (depth: number): Filter => {
    if (depth > MAX_DEPTH) throw bad('too deep');
    ws();
    if (text[i] === '(') {
      i++;
      const f = or(depth + 1);
      ws();
      if (text[i] !== ')') throw bad('")" expected');
      i++;
      return f;
    }
    if (word().toLowerCase() === 'not' && /^not\s*\(/i.test(text.slice(i))) throw new ScimError(400, 'invalidFilter', 'filter operator not supported', 'not');
    const attr = attrPath();
    if (text[i] === '[') {
      i++;
      const inner = or(depth + 1);
      ws();
      if (text[i] !== ']') throw bad('"]" expected');
      i++;
      if (text[i] === '.') {
        // emails[type eq "work"].value eq "x": an element matching both.
        i++;
        const m = /^[A-Za-z][A-Za-z0-9_$-]*/.exec(text.slice(i));
        if (!m) throw bad('sub-attribute expected');
        i += m[0].length;
        if (text[i] !== ' ') throw bad('operator expected');
        ws();
        const op = word().toLowerCase();
        i += op.length;
        if (++leaves > MAX_LEAVES) throw bad('too many terms');
        const leaf: Filter = op === 'pr' ? { kind: 'pr', attr: m[0] } : OPS.has(op) && text[i] === ' ' ? { kind: 'cmp', attr: m[0], op: op as CompareOp, value: value() } : (() => { throw bad('operator expected'); })();
        return { kind: 'valuePath', attr, filter: { kind: 'and', left: inner, right: leaf } };
      }
      return { kind: 'valuePath', attr, filter: inner };
    }
    if (text[i] !== ' ') throw bad('operator expected');
    ws();
    const op = word().toLowerCase();
    i += op.length;
    if (++leaves > MAX_LEAVES) throw bad('too many terms');
    if (op === 'pr') return { kind: 'pr', attr };
    if (!OPS.has(op)) throw bad('unknown operator');
    if (text[i] !== ' ') throw bad('value expected');
    return { kind: 'cmp', attr, op: op as CompareOp, value: value() };
  };
  const and = (depth: number): Filter => {
    let left = unary(depth);
    for (;;) {
      const save = i;
      ws();
      if (save !== i && word().toLowerCase() === 'and' && text[i + 3] === ' ') {
        i += 3;
        left = { kind: 'and', left, right: unary(depth) };
      } else {
        i = save;
        return left;
      }
    }
  };
  const or = (depth: number): Filter => {
    let left = and(depth);
    for (;;) {
      const save = i;
      ws();
      if (save !== i && word().toLowerCase() === 'or' && text[i + 2] === ' ') {
        i += 2;
        left = { kind: 'or', left, right: and(depth) };
      } else {
        i = save;
        return left;
      }
    }
  };
  const f = or(0);
  ws();
  if (i !== text.length) throw bad('trailing input');
  return f;
}
