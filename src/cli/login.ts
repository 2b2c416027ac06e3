// `rampart login` / `rampart logout`: sign in with username, password and a
// second factor (TOTP or a recovery code), completing first-time enrolment
// (password, TOTP, recovery codes) when the server asks for it. The result is
// a command-line session ("rms_..."): short-lived (idle and absolute timeouts
// on the server), revocable, stored in a file only the user can read
// ($RAMPART_SESSION_FILE, or $XDG_CONFIG_HOME/rampart/session.json, or
// ~/.config/rampart/session.json; directory 0700, file 0600, written
// atomically). API commands use it when no --token / RAMPART_TOKEN is given,
// and only for the admin URL it was issued by.
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { CliError, DEFAULT_ADMIN_URL, parseAdminUrl, sanitize } from './client.ts';
import type { FetchLike } from './client.ts';

export type Prompt = (question: string, opts: { hidden: boolean }) => Promise<string>;

export interface LoginIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
  fetch?: FetchLike;
  prompt?: Prompt;
}

interface SavedSession {
  url: string;
  token: string;
  expiresAt: string;
}

export function sessionFilePath(env: Record<string, string | undefined>): string {
  if (env.RAMPART_SESSION_FILE) return path.resolve(env.RAMPART_SESSION_FILE);
  const base = env.XDG_CONFIG_HOME ? env.XDG_CONFIG_HOME : path.join(env.HOME ?? homedir(), '.config');
  return path.join(base, 'rampart', 'session.json');
}

function saveSession(file: string, s: SavedSession): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(s) + '\n', { mode: 0o600, flag: 'w' });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** The saved session token for this admin URL, if present, unexpired and private to the user. */
export function savedSessionToken(env: Record<string, string | undefined>, url: string): string | undefined {
  const file = sessionFilePath(env);
  let raw: string;
  try {
    if ((statSync(file).mode & 0o077) !== 0) throw new CliError(`${file} is readable by others; run rampart login again`);
    raw = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof CliError) throw e;
    return undefined;
  }
  try {
    const s = JSON.parse(raw) as Partial<SavedSession>;
    if (typeof s.token !== 'string' || typeof s.url !== 'string' || typeof s.expiresAt !== 'string') return undefined;
    if (parseAdminUrl(s.url).origin !== parseAdminUrl(url).origin) return undefined;
    // Expiry is the server's decision (idle and absolute timeouts); local clocks may be off.
    return s.token;
  } catch {
    return undefined;
  }
}

function ttyPrompt(io: LoginIo): Prompt {
  return (question, { hidden }) =>
    new Promise((resolve, reject) => {
      if (!process.stdin.isTTY && hidden) {
        reject(new CliError('a terminal is needed to type secrets'));
        return;
      }
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      if (hidden) {
        const r = rl as unknown as { _writeToOutput: (s: string) => void };
        r._writeToOutput = (s: string) => {
          if (s.includes(question)) io.stderr.write(question);
        };
      }
      rl.question(question, (answer) => {
        rl.close();
        if (hidden) io.stderr.write('\n');
        resolve(answer);
      });
    });
}

async function call<T>(io: LoginIo, base: URL, method: string, p: string, body: unknown, token?: string): Promise<T> {
  const doFetch: FetchLike = io.fetch ?? ((u, init) => fetch(u, init));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const init: Parameters<FetchLike>[1] = { method, headers, signal: AbortSignal.timeout(30_000) };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await doFetch(new URL(base.pathname.replace(/\/$/, '') + p, base).toString(), init);
  } catch {
    throw new CliError(`cannot reach the admin API at ${base.origin}`);
  }
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text === '' ? null : JSON.parse(text);
  } catch {
    throw new CliError(`unexpected response from the admin API (HTTP ${res.status})`);
  }
  if (!res.ok) {
    const m = (data as { message?: unknown } | null)?.message;
    throw new CliError(`${sanitize(typeof m === 'string' ? m : `HTTP ${res.status}`)} [HTTP ${res.status}]`);
  }
  return data as T;
}

interface LoginStep {
  ticket: string;
  stage: 'mfa' | 'enroll';
  needsPassword: boolean;
  methods: string[];
}

interface Grant {
  token: string;
  expiresAt: string;
  recoveryCodes?: string[];
}

export function registerLoginCommands(program: Command, io: LoginIo): void {
  const prompt = (): Prompt => io.prompt ?? ttyPrompt(io);
  program
    .command('login')
    .description('sign in (password and a second factor) and keep a short-lived session for the other commands')
    .option('--url <url>', `admin API URL (env RAMPART_URL, default ${DEFAULT_ADMIN_URL})`)
    .option('--username <name>', 'administrator (env RAMPART_USER)')
    .option('--recovery', 'use a recovery code instead of the authenticator app')
    .action(async (o: { url?: string; username?: string; recovery?: boolean }) => {
      const url = o.url ?? io.env.RAMPART_URL ?? DEFAULT_ADMIN_URL;
      const base = parseAdminUrl(url);
      const ask = prompt();
      const username = o.username ?? io.env.RAMPART_USER ?? (await ask('Username: ', { hidden: false })).trim();
      const password = await ask('Password: ', { hidden: true });
      let step = await call<LoginStep>(io, base, 'POST', '/api/v1/auth/login', { username, password, client: 'cli' });
      let grant: Grant;
      if (step.stage === 'enroll') {
        io.stderr.write('First sign-in: a password and an authenticator app are required.\n');
        if (step.needsPassword) {
          const pw = await ask('New password (at least 12 characters): ', { hidden: true });
          if ((await ask('Repeat new password: ', { hidden: true })) !== pw) throw new CliError('the passwords differ');
          step = await call<LoginStep>(io, base, 'POST', '/api/v1/auth/enroll/password', { ticket: step.ticket, password: pw });
        }
        const secret = await call<{ secret: string; uri: string }>(io, base, 'POST', '/api/v1/auth/enroll/totp', { ticket: step.ticket });
        io.stderr.write(`Add this account to your authenticator app:\n  ${sanitize(secret.uri)}\n  (secret ${sanitize(secret.secret)})\n`);
        const code = (await ask('Code from the app: ', { hidden: false })).trim();
        grant = await call<Grant>(io, base, 'POST', '/api/v1/auth/enroll/totp/confirm', { ticket: step.ticket, code });
        io.stdout.write(`Recovery codes (shown once; each works once; keep them offline):\n${(grant.recoveryCodes ?? []).map((c) => `  ${sanitize(c)}\n`).join('')}`);
      } else if (o.recovery === true) {
        const code = (await ask('Recovery code: ', { hidden: true })).trim();
        grant = await call<Grant>(io, base, 'POST', '/api/v1/auth/mfa', { ticket: step.ticket, recoveryCode: code });
      } else {
        if (!step.methods.includes('totp')) throw new CliError('this account has no authenticator app; use --recovery or sign in with a security key in a browser');
        const code = (await ask('Authenticator code: ', { hidden: false })).trim();
        grant = await call<Grant>(io, base, 'POST', '/api/v1/auth/mfa', { ticket: step.ticket, totp: code });
      }
      if (typeof grant.token !== 'string' || !grant.token.startsWith('rms_')) throw new CliError('the server did not return a command-line session');
      const file = sessionFilePath(io.env);
      saveSession(file, { url: base.toString(), token: grant.token, expiresAt: grant.expiresAt });
      io.stderr.write(`Signed in until ${sanitize(grant.expiresAt)} at the latest; session saved to ${file}\n`);
    });

  program
    .command('logout')
    .description('end the command-line session and delete its file')
    .option('--url <url>', `admin API URL (env RAMPART_URL, default ${DEFAULT_ADMIN_URL})`)
    .action(async (o: { url?: string }) => {
      const url = o.url ?? io.env.RAMPART_URL ?? DEFAULT_ADMIN_URL;
      const token = savedSessionToken(io.env, url);
      if (token !== undefined) await call(io, parseAdminUrl(url), 'POST', '/api/v1/auth/logout', undefined, token).catch(() => undefined);
      rmSync(sessionFilePath(io.env), { force: true });
      io.stderr.write('Signed out.\n');
    });
}
