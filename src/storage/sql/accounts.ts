// Admins, API tokens, issued certificates and settings: small tables, plain queries.

import type { Selectable } from 'kysely';
import { badRequest, conflict } from '../../lib/errors.ts';
import { dbErrorKind } from '../errors.ts';
import type { AdminsTable, ApiTokensTable, IssuedCertificatesTable } from '../schema.ts';
import type {
  Admin,
  AdminStore,
  ApiToken,
  ApiTokenStore,
  CertificateStore,
  IssuedCertificate,
  SettingsStore,
} from '../types.ts';
import type { Db } from './backend.ts';
import { idIn } from './devices.ts';
import { bytesIn, bytesOut, isoIn, isoInOrNull, isoOut, isoOutOrNull, textIn } from './map.ts';

function rethrowConflict(e: unknown, message: string): never {
  if (dbErrorKind(e) === 'unique') throw conflict(message);
  throw e;
}

function toAdmin(r: Selectable<AdminsTable>): Admin {
  return { id: r.id, username: r.username, createdAt: isoOut(r.created_at), disabledAt: isoOutOrNull(r.disabled_at) };
}

export class SqlAdminStore implements AdminStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async create(a: { id: string; username: string }, now: string): Promise<Admin> {
    const row = { id: idIn(a.id), username: textIn(a.username, 256), created_at: isoIn(now), disabled_at: null };
    if (row.username.length === 0) throw badRequest('invalid username');
    try {
      const r = await this.#db.insertInto('admins').values(row).returningAll().executeTakeFirstOrThrow();
      return toAdmin(r);
    } catch (e) {
      return rethrowConflict(e, 'admin exists');
    }
  }

  async get(id: string): Promise<Admin | undefined> {
    const r = await this.#db.selectFrom('admins').selectAll().where('id', '=', idIn(id)).executeTakeFirst();
    return r ? toAdmin(r) : undefined;
  }

  async getByUsername(username: string): Promise<Admin | undefined> {
    const r = await this.#db.selectFrom('admins').selectAll()
      .where('username', '=', textIn(username, 256)).executeTakeFirst();
    return r ? toAdmin(r) : undefined;
  }

  async list(): Promise<Admin[]> {
    const rows = await this.#db.selectFrom('admins').selectAll().orderBy('username').execute();
    return rows.map(toAdmin);
  }

  async count(): Promise<number> {
    const r = await this.#db.selectFrom('admins').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }
}

function toToken(r: Selectable<ApiTokensTable>): ApiToken {
  const scopes: unknown = JSON.parse(r.scopes);
  return {
    id: r.id,
    name: r.name,
    secretHash: r.secret_hash,
    principalId: r.principal_id,
    scopes: Array.isArray(scopes) ? scopes.filter((s): s is string => typeof s === 'string') : [],
    createdAt: isoOut(r.created_at),
    expiresAt: isoOutOrNull(r.expires_at),
    lastUsedAt: isoOutOrNull(r.last_used_at),
    revokedAt: isoOutOrNull(r.revoked_at),
  };
}

function hashIn(h: string): string {
  if (typeof h !== 'string' || !/^[0-9a-fA-F]{64}$/.test(h)) throw badRequest('invalid hash');
  return h.toLowerCase();
}

export class SqlTokenStore implements ApiTokenStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async create(t: Omit<ApiToken, 'createdAt' | 'lastUsedAt' | 'revokedAt'>, now: string): Promise<ApiToken> {
    if (!Array.isArray(t.scopes) || t.scopes.length > 256) throw badRequest('invalid scopes');
    const row = {
      id: idIn(t.id),
      name: textIn(t.name, 256),
      secret_hash: hashIn(t.secretHash),
      principal_id: idIn(t.principalId),
      scopes: JSON.stringify(t.scopes.map((s) => textIn(s, 256))),
      created_at: isoIn(now),
      expires_at: isoInOrNull(t.expiresAt),
      last_used_at: null,
      revoked_at: null,
    };
    try {
      const r = await this.#db.insertInto('api_tokens').values(row).returningAll().executeTakeFirstOrThrow();
      return toToken(r);
    } catch (e) {
      return rethrowConflict(e, 'token exists');
    }
  }

  async getBySecretHash(hash: string): Promise<ApiToken | undefined> {
    let h: string;
    try {
      h = hashIn(hash);
    } catch {
      return undefined; // a malformed presented secret simply matches nothing
    }
    const r = await this.#db.selectFrom('api_tokens').selectAll().where('secret_hash', '=', h).executeTakeFirst();
    return r ? toToken(r) : undefined;
  }

  async touch(id: string, now: string): Promise<void> {
    await this.#db.updateTable('api_tokens').set({ last_used_at: isoIn(now) }).where('id', '=', idIn(id)).execute();
  }

  async revoke(id: string, now: string): Promise<boolean> {
    const r = await this.#db.updateTable('api_tokens').set({ revoked_at: isoIn(now) })
      .where('id', '=', idIn(id))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  async listForPrincipal(principalId: string): Promise<ApiToken[]> {
    const rows = await this.#db.selectFrom('api_tokens').selectAll()
      .where('principal_id', '=', idIn(principalId))
      .orderBy('created_at').orderBy('id')
      .execute();
    return rows.map(toToken);
  }
}

function toCert(r: Selectable<IssuedCertificatesTable>): IssuedCertificate {
  return {
    serial: r.serial,
    subject: r.subject,
    sha256: r.sha256,
    notBefore: isoOut(r.not_before),
    notAfter: isoOut(r.not_after),
    deviceId: r.device_id,
    der: bytesOut(r.der),
    revokedAt: isoOutOrNull(r.revoked_at),
    revocationReason: r.revocation_reason,
  };
}

function serialIn(s: string): string {
  if (typeof s !== 'string' || !/^[0-9a-fA-F]{1,128}$/.test(s)) throw badRequest('invalid serial');
  return s.toLowerCase();
}

export class SqlCertificateStore implements CertificateStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async add(c: Omit<IssuedCertificate, 'revokedAt' | 'revocationReason'>): Promise<void> {
    const row = {
      serial: serialIn(c.serial),
      subject: textIn(c.subject, 4096),
      sha256: hashIn(c.sha256),
      not_before: isoIn(c.notBefore),
      not_after: isoIn(c.notAfter),
      device_id: c.deviceId === null ? null : idIn(c.deviceId),
      der: bytesIn(c.der),
      revoked_at: null,
      revocation_reason: null,
    };
    try {
      await this.#db.insertInto('issued_certificates').values(row).execute();
    } catch (e) {
      rethrowConflict(e, 'certificate exists');
    }
  }

  async getBySerial(serial: string): Promise<IssuedCertificate | undefined> {
    let s: string;
    try {
      s = serialIn(serial);
    } catch {
      return undefined;
    }
    const r = await this.#db.selectFrom('issued_certificates').selectAll().where('serial', '=', s).executeTakeFirst();
    return r ? toCert(r) : undefined;
  }

  async getBySha256(sha256: string): Promise<IssuedCertificate | undefined> {
    let h: string;
    try {
      h = hashIn(sha256);
    } catch {
      return undefined;
    }
    const r = await this.#db.selectFrom('issued_certificates').selectAll()
      .where('sha256', '=', h).orderBy('serial').executeTakeFirst();
    return r ? toCert(r) : undefined;
  }

  async revoke(serial: string, reason: string, now: string): Promise<boolean> {
    const r = await this.#db.updateTable('issued_certificates')
      .set({ revoked_at: isoIn(now), revocation_reason: textIn(reason, 256) })
      .where('serial', '=', serialIn(serial))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return r.numUpdatedRows > 0n;
  }

  async listRevoked(): Promise<IssuedCertificate[]> {
    const rows = await this.#db.selectFrom('issued_certificates').selectAll()
      .where('revoked_at', 'is not', null)
      .orderBy('revoked_at').orderBy('serial')
      .execute();
    return rows.map(toCert);
  }
}

export class SqlSettingsStore implements SettingsStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async get(key: string): Promise<string | undefined> {
    const r = await this.#db.selectFrom('settings').select('value').where('key', '=', textIn(key, 256)).executeTakeFirst();
    return r?.value;
  }

  async set(key: string, value: string, now: string): Promise<void> {
    const row = { key: textIn(key, 256), value: textIn(value, 1024 * 1024), updated_at: isoIn(now) };
    if (row.key.length === 0) throw badRequest('invalid key');
    await this.#db.insertInto('settings').values(row)
      .onConflict((oc) => oc.column('key').doUpdateSet({ value: row.value, updated_at: row.updated_at }))
      .execute();
  }
}
