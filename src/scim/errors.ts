// SCIM errors (RFC 7644 §3.12): a status, an optional scimType and a fixed
// detail. `internal` is for the operator log only.
export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

export type ScimType = 'invalidFilter' | 'tooMany' | 'uniqueness' | 'mutability' | 'invalidSyntax' | 'invalidPath' | 'noTarget' | 'invalidValue' | 'invalidVers' | 'sensitive';

export class ScimError extends Error {
  readonly status: number;
  readonly scimType: ScimType | undefined;
  readonly internal: string | undefined;
  constructor(status: number, scimType: ScimType | undefined, detail: string, internal?: string) {
    super(detail);
    this.name = 'ScimError';
    this.status = status;
    this.scimType = scimType;
    this.internal = internal;
  }
}

export function scimErrorBody(status: number, detail: string, scimType?: ScimType): Record<string, unknown> {
  return { schemas: [SCIM_ERROR_SCHEMA], status: String(status), ...(scimType ? { scimType } : {}), detail };
}
