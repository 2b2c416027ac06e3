// Shapes of the staff directory.
import type { Generated } from 'kysely';

export type StaffStatus = 'active' | 'suspended' | 'deleted';

/** A staff member's fields, normalised (see normalise.ts). */
export interface StaffData {
  userName: string;
  externalId: string | null;
  displayName: string | null;
  givenName: string | null;
  familyName: string | null;
  /** Work e-mail, lower-cased. */
  email: string | null;
  /** Mobile numbers, E.164. */
  phones: string[];
  department: string | null;
  employeeNumber: string | null;
  status: 'active' | 'suspended';
  deviceIds: string[];
  invitationIds: string[];
}

export interface StaffRecord extends Omit<StaffData, 'status'> {
  id: string;
  status: StaffStatus;
  version: number;
  createdAt: string;
  updatedAt: string;
}

/** What the admin API and CLI show: masked unless revealed. */
export interface StaffView extends StaffRecord {
  masked: boolean;
}

/** The personal fields, each stored as its own ciphertext bound to (record id, field name). */
export const ENCRYPTED_FIELDS = ['userName', 'displayName', 'givenName', 'familyName', 'email', 'phones', 'department', 'employeeNumber'] as const;
export type EncryptedField = (typeof ENCRYPTED_FIELDS)[number];

type Blob = Uint8Array | null;
type Time = string | Date;

export type PiiStaffTable = {
  id: string;
  external_id: string | null;
  status: StaffStatus;
  user_name_bidx: Blob;
  email_bidx: Blob;
  employee_bidx: Blob;
  data_key: Blob;
  kek_version: string | null;
  user_name_ct: Blob;
  display_name_ct: Blob;
  given_name_ct: Blob;
  family_name_ct: Blob;
  email_ct: Blob;
  phones_ct: Blob;
  department_ct: Blob;
  employee_number_ct: Blob;
  version: number;
  created_at: Time;
  updated_at: Time;
  deleted_at: Time | null;
  shred_after: Time | null;
  shredded_at: Time | null;
};

export type PiiTables = {
  pii_key: { name: string; wrapped: Uint8Array; created_at: Time };
  pii_staff: PiiStaffTable;
  pii_staff_phone: { bidx: Uint8Array; staff_id: string };
  pii_staff_device: { staff_id: string; device_id: string };
  pii_staff_invitation: { staff_id: string; invitation_id: string };
  pii_group: { id: string; display_name: string; external_id: string | null; version: number; created_at: Time; updated_at: Time };
  pii_group_member: { group_id: string; staff_id: string };
  pii_access_subject: {
    principal: string;
    staff_id: string;
    first_at: number | string;
    last_at: number | string;
    reads: number | string;
    last_revealed_at: number | string | null;
  };
  pii_access: {
    id: Generated<number | string>;
    at: number | string;
    principal: string;
    actor_type: string;
    token_id: string | null;
    session_id: string | null;
    source: string | null;
    request_id: string | null;
    purpose: string;
    revealed: number;
    staff_id: string;
  };
};

export const COLUMN_OF: Record<EncryptedField, keyof PiiStaffTable> = {
  userName: 'user_name_ct',
  displayName: 'display_name_ct',
  givenName: 'given_name_ct',
  familyName: 'family_name_ct',
  email: 'email_ct',
  phones: 'phones_ct',
  department: 'department_ct',
  employeeNumber: 'employee_number_ct',
};
