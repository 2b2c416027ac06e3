// Permission names of the staff directory (also listed in KNOWN_SCOPES).
export const DIRECTORY_PERMISSIONS = {
  staffRead: 'staff.read',
  staffWrite: 'staff.write',
  piiReveal: 'pii.reveal',
  piiAccessRead: 'pii.access.read',
  piiExport: 'pii.export',
  scimProvision: 'scim.provision',
} as const;

/** Reasons an administrator may state to reveal personal data (a code, never free text: free text could carry personal data into the audit log). */
export const REVEAL_REASONS = ['support', 'device-recovery', 'security-incident', 'legal-request', 'hr-request', 'data-subject-request'] as const;
export type RevealReason = (typeof REVEAL_REASONS)[number];
/** Optional ticket reference with a reveal, e.g. "INC-1234". */
export const TICKET_PATTERN = '^[A-Z][A-Z0-9]{1,9}-[0-9]{1,10}$';
