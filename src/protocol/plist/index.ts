// Public surface of the plist module.
export { parsePlist, parsePlistDict } from './parse.ts';
export { buildPlist, buildPlistString, MAX_BUILD_DEPTH } from './build.ts';
export { DEFAULT_PLIST_LIMITS, PLIST_LIMIT_CEILINGS, isPlistDict } from './types.ts';
export type { PlistDict, PlistLimits, PlistValue } from './types.ts';
