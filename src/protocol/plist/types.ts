// Values of an XML property list as Rampart represents them.
//
// - <integer> parses to a `number` when it is a safe integer, otherwise to a
//   `bigint` (64-bit range only), so precision is never lost silently.
// - <real> parses to a `number`. When building, a `number` that is a safe
//   integer is written as <integer>; any other finite number is written as
//   <real>. There is therefore no way to write an integral <real>: devices
//   accept either for the keys Apple types as real.
// - <data> is a `Uint8Array` (never a Node Buffer), <date> a `Date` (whole
//   seconds, UTC).

export type PlistValue =
  | string
  | number
  | bigint
  | boolean
  | Date
  | Uint8Array
  | PlistValue[]
  | PlistDict;

export interface PlistDict {
  [key: string]: PlistValue;
}

export interface PlistLimits {
  /** Largest accepted input in bytes. */
  maxBytes: number;
  /** Deepest accepted nesting of <dict>/<array> containers (the root dict is depth 1). */
  maxDepth: number;
  /** Most elements (values and keys) accepted in one document. */
  maxNodes: number;
}

export const DEFAULT_PLIST_LIMITS: Readonly<PlistLimits> = Object.freeze({
  maxBytes: 256 * 1024,
  maxDepth: 32,
  maxNodes: 20_000,
});

/** Hard ceilings: a caller may lower the limits freely but never raise them past these. */
export const PLIST_LIMIT_CEILINGS: Readonly<PlistLimits> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxDepth: 256,
  maxNodes: 5_000_000,
});

export function isPlistDict(v: unknown): v is PlistDict {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}
