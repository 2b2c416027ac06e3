// Shapes of the schema tables generated from Apple's device-management YAML
// (scripts/gen-commands.ts writes generated/commands.ts and generated/checkin.ts).

export type SchemaType = 'string' | 'integer' | 'real' | 'boolean' | 'date' | 'data' | 'array' | 'dictionary' | 'any';

export const OS_NAMES = ['iOS', 'macOS', 'tvOS', 'visionOS', 'watchOS'] as const;
export type OsName = (typeof OS_NAMES)[number];

/** `sharedipad` / `userenrollment` objects of a supportedOS entry. */
export interface ModeSupport {
  readonly mode?: string;
  readonly behavior?: string;
  readonly devicechannel?: boolean;
  readonly userchannel?: boolean;
}

export interface OsSupport {
  readonly introduced?: string;
  readonly deprecated?: string;
  readonly removed?: string;
  readonly accessrights?: string;
  readonly multiple?: boolean;
  readonly devicechannel?: boolean;
  readonly userchannel?: boolean;
  readonly supervised?: boolean;
  readonly requiresdep?: boolean;
  readonly userapprovedmdm?: boolean;
  readonly allowmanualinstall?: boolean;
  readonly sharedipad?: ModeSupport;
  readonly userenrollment?: ModeSupport;
}

export type SupportedOS = { readonly [K in OsName]?: OsSupport };

export interface KeySchema {
  /** Key name; for a wildcard entry (Apple's `ANY ...`), the text Apple gave. */
  readonly key: string;
  readonly type: SchemaType;
  readonly presence: 'required' | 'optional';
  /**
   * Required only on some platforms, channels or enrollment types (its own
   * supportedOS marks it n/a somewhere, or restricts channel or enrollment
   * mode). Validators do not insist on such keys.
   */
  readonly conditional?: true;
  /** Stands for any key of the enclosing dictionary (Apple's `ANY ...` keys). */
  readonly wildcard?: true;
  readonly rangelist?: readonly (string | number | boolean)[];
  readonly range?: { readonly min?: number; readonly max?: number };
  readonly supportedOS?: SupportedOS;
  /**
   * For a dictionary: its keys. For an array: the element schema (several
   * entries = a union of element shapes, e.g. Settings items). For a scalar
   * inside an array: the allowed values, one entry each (e.g. Queries).
   */
  readonly subkeys?: readonly KeySchema[];
}

export interface MessageSchema {
  /** The RequestType (commands) or MessageType (check-in). */
  readonly requestType: string;
  readonly title: string;
  /** Path of the YAML file inside the schema folder. */
  readonly source: string;
  readonly supportedOS: SupportedOS;
  readonly payloadKeys: readonly KeySchema[];
  readonly responseKeys: readonly KeySchema[];
}
