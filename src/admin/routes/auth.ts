// Sign-in, MFA, sessions and local accounts (src/identity). Only the entry
// points of a sign-in (login, the second-factor and first-enrolment steps that
// carry a login ticket, and the OIDC redirect pair) are public; everything
// else needs a session or a token. Handlers validate, call one identity
// service method and map the result (cookies travel only in Set-Cookie).
import { Type } from 'typebox';
import type { TSchema } from 'typebox';
import { defineRoute, AUTHENTICATED } from '../types.ts';
import type { AdminServices, RouteContext, RouteReply, RouteSchema } from '../types.ts';
import type { IdentityService, SessionGrant } from '../../identity/service.ts';
import { RampartError } from '../../lib/errors.ts';
import { Nullable } from '../schemas.ts';

const closed = { additionalProperties: false } as const;
const B64u = Type.String({ pattern: '^[A-Za-z0-9_-]*={0,2}$', maxLength: 16384 });
const Ticket = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' });
const Username = Type.String({ minLength: 1, maxLength: 64 });
const Password = Type.String({ minLength: 1, maxLength: 1024 });
const TotpCode = Type.String({ pattern: '^[0-9]{6}$' });
const RecoveryCode = Type.String({ pattern: '^[A-Za-z0-9 -]{16,24}$' });
const Client = Type.Union([Type.Literal('browser'), Type.Literal('cli')]);
const Handle = Type.String({ pattern: '^[A-Za-z0-9_-]{16}$' });
const AdminId = Type.String({ pattern: '^[0-9a-f-]{36}$' });
const Transports = Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 });
const Attachment = Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')]);
const ExtensionResults = Type.Object({ credProps: Type.Optional(Type.Object({ rk: Type.Optional(Type.Boolean()) }, closed)) }, closed);

export const WebAuthnAssertion = Type.Object({
  id: B64u,
  rawId: B64u,
  type: Type.Literal('public-key'),
  response: Type.Object({ clientDataJSON: B64u, authenticatorData: B64u, signature: B64u, userHandle: Type.Optional(B64u) }, closed),
  clientExtensionResults: ExtensionResults,
  authenticatorAttachment: Type.Optional(Attachment),
}, closed);

export const WebAuthnRegistration = Type.Object({
  id: B64u,
  rawId: B64u,
  type: Type.Literal('public-key'),
  response: Type.Object({
    clientDataJSON: B64u,
    attestationObject: B64u,
    transports: Type.Optional(Transports),
    authenticatorData: Type.Optional(B64u),
    publicKey: Type.Optional(B64u),
    publicKeyAlgorithm: Type.Optional(Type.Integer()),
  }, closed),
  clientExtensionResults: ExtensionResults,
  authenticatorAttachment: Type.Optional(Attachment),
}, closed);

const MfaProofProps = {
  totp: Type.Optional(TotpCode),
  recoveryCode: Type.Optional(RecoveryCode),
  webauthn: Type.Optional(WebAuthnAssertion),
};

const LoginStepBody = Type.Object({
  ticket: Ticket,
  stage: Type.Union([Type.Literal('mfa'), Type.Literal('enroll')]),
  needsPassword: Type.Boolean(),
  methods: Type.Array(Type.Union([Type.Literal('totp'), Type.Literal('webauthn'), Type.Literal('recovery')])),
  expiresAt: Type.String(),
}, closed);

const grantProps = {
  kind: Client,
  handle: Type.String(),
  expiresAt: Type.String(),
  csrfToken: Type.Optional(Type.String()),
  token: Type.Optional(Type.String()),
};
const GrantBody = Type.Object(grantProps, closed);
const EnrolledBody = Type.Object({ ...grantProps, recoveryCodes: Type.Array(Type.String()) }, closed);
const TotpSecretBody = Type.Object({ secret: Type.String(), uri: Type.String() }, closed);
/** WebAuthn options as produced by @simplewebauthn/server (passed to navigator.credentials as is). */
const OptionsBody = Type.Object({ options: Type.Unknown() }, closed);
const RecoveryCodesBody = Type.Object({ recoveryCodes: Type.Array(Type.String()) }, closed);
const SessionViewBody = Type.Object({
  handle: Type.String(),
  adminId: Type.String(),
  kind: Client,
  createdAt: Type.String(),
  lastSeenAt: Type.String(),
  expiresAt: Type.String(),
  source: Nullable(Type.String()),
  current: Type.Boolean(),
}, closed);
const MeBody = Type.Object({
  type: Type.String(),
  id: Type.String(),
  username: Nullable(Type.String()),
  permissions: Type.Array(Type.String()),
  session: Nullable(Type.Object({ handle: Type.String(), kind: Client, mfaAt: Type.String(), expiresAt: Type.String(), csrfToken: Type.Optional(Type.String()) }, closed)),
  factors: Nullable(Type.Object({ totp: Type.Boolean(), webauthn: Type.Integer(), recoveryCodes: Type.Integer() }, closed)),
}, closed);
const Empty = Type.Object({}, closed);
const Redirect = Type.Null();

function identity(services: AdminServices): IdentityService {
  if (!services.identity) throw new RampartError('unavailable', 'sign-in is not configured');
  return services.identity;
}

type Ctx<S extends RouteSchema> = RouteContext<S>;
const rc = <S extends RouteSchema>(c: Ctx<S>) => ({ source: c.request.source, requestId: c.request.requestId, ...(c.request.cookie !== undefined ? { cookie: c.request.cookie } : {}) });

/** A session grant as a response: the cookie in Set-Cookie only, never in the body. */
function granted<T extends SessionGrant>(g: T): RouteReply {
  const { setCookie, ...body } = g;
  return { status: 200, body, ...(setCookie !== undefined ? { headers: { 'set-cookie': setCookie } } : {}) };
}

const auth = (id: string, method: 'GET' | 'POST' | 'DELETE', path: string, summary: string) => ({ id, method, url: `/api/v1/auth/${path}`, summary, tags: ['auth'] });
const smallBody = () => 16 * 1024;
const body = <T extends TSchema>(s: T) => s;

export const loginRoute = defineRoute({
  ...auth('login', 'POST', 'login', 'Sign in, step 1: username and password; returns a login ticket for the second factor (or first enrolment)'),
  permission: null,
  audit: 'auth.login.password',
  bodyLimit: smallBody,
  schema: {
    body: body(Type.Object({ username: Username, password: Password, client: Type.Optional(Client) }, closed)),
    response: { 200: LoginStepBody },
  },
  async handler(c) {
    const step = await identity(c.services).login({ username: c.body.username, password: c.body.password, client: c.body.client ?? 'browser' }, rc(c));
    return { status: 200, body: step };
  },
});

export const mfaRoute = defineRoute({
  ...auth('loginMfa', 'POST', 'mfa', 'Sign in, step 2: a second factor (TOTP, WebAuthn assertion or recovery code) for the ticket; starts the session'),
  permission: null,
  audit: 'auth.login',
  bodyLimit: smallBody,
  schema: { body: Type.Object({ ticket: Ticket, ...MfaProofProps }, closed), response: { 200: GrantBody } },
  async handler(c) {
    const { ticket, ...proof } = c.body;
    return granted(await identity(c.services).completeMfa({ ticket, ...proof }, rc(c)));
  },
});

export const mfaWebAuthnOptionsRoute = defineRoute({
  ...auth('loginMfaWebAuthnOptions', 'POST', 'mfa/webauthn/options', 'Sign in, step 2 with a security key: the assertion options (one-time challenge)'),
  permission: null,
  audit: 'auth.login',
  bodyLimit: smallBody,
  schema: { body: Type.Object({ ticket: Ticket }, closed), response: { 200: OptionsBody } },
  async handler(c) {
    return { status: 200, body: { options: await identity(c.services).mfaWebAuthnOptions({ ticket: c.body.ticket }) } };
  },
});

export const enrollPasswordRoute = defineRoute({
  ...auth('enrollPassword', 'POST', 'enroll/password', 'First sign-in: set the password of an account that has none (bootstrap administrator)'),
  permission: null,
  audit: 'auth.password.set',
  bodyLimit: smallBody,
  schema: { body: Type.Object({ ticket: Ticket, password: Password }, closed), response: { 200: LoginStepBody } },
  async handler(c) {
    return { status: 200, body: await identity(c.services).enrollPassword({ ticket: c.body.ticket, password: c.body.password }, rc(c)) };
  },
});

export const enrollTotpRoute = defineRoute({
  ...auth('enrollTotp', 'POST', 'enroll/totp', 'First sign-in: a new TOTP secret to enrol (mandatory MFA)'),
  permission: null,
  audit: 'auth.mfa.enroll',
  bodyLimit: smallBody,
  schema: { body: Type.Object({ ticket: Ticket }, closed), response: { 200: TotpSecretBody } },
  async handler(c) {
    return { status: 200, body: await identity(c.services).enrollTotp({ ticket: c.body.ticket }) };
  },
});

export const enrollTotpConfirmRoute = defineRoute({
  ...auth('enrollTotpConfirm', 'POST', 'enroll/totp/confirm', 'First sign-in: confirm TOTP with a code; starts the session and returns recovery codes (shown once)'),
  permission: null,
  audit: 'auth.mfa.enroll',
  bodyLimit: smallBody,
  schema: { body: Type.Object({ ticket: Ticket, code: TotpCode }, closed), response: { 200: EnrolledBody } },
  async handler(c) {
    return granted(await identity(c.services).enrollTotpConfirm({ ticket: c.body.ticket, code: c.body.code }, rc(c)));
  },
});

export const meRoute = defineRoute({
  ...auth('me', 'GET', 'me', 'Who is calling: administrator, permissions, session (with its CSRF token) and enrolled factors'),
  permission: AUTHENTICATED,
  schema: { response: { 200: MeBody } },
  async handler(c) {
    return { status: 200, body: await identity(c.services).me(c.actor!, rc(c)) };
  },
});

export const logoutRoute = defineRoute({
  ...auth('logout', 'POST', 'logout', 'Sign out: ends the current session'),
  permission: AUTHENTICATED,
  audit: 'auth.logout',
  schema: { response: { 200: Empty } },
  async handler(c) {
    const { clearCookie } = await identity(c.services).logout(c.actor!);
    return { status: 200, body: {}, headers: { 'set-cookie': clearCookie } };
  },
});

export const stepUpRoute = defineRoute({
  ...auth('stepUp', 'POST', 'stepup', 'Step-up: a fresh second factor for the current session (needed before sensitive actions)'),
  permission: AUTHENTICATED,
  audit: 'auth.stepup',
  bodyLimit: smallBody,
  schema: { body: Type.Object(MfaProofProps, closed), response: { 200: Type.Object({ mfaAt: Type.String() }, closed) } },
  async handler(c) {
    return { status: 200, body: await identity(c.services).stepUp(c.actor!, c.body) };
  },
});

export const stepUpWebAuthnOptionsRoute = defineRoute({
  ...auth('stepUpWebAuthnOptions', 'POST', 'stepup/webauthn/options', 'Step-up with a security key: the assertion options'),
  permission: AUTHENTICATED,
  audit: 'auth.stepup',
  schema: { response: { 200: OptionsBody } },
  async handler(c) {
    return { status: 200, body: { options: await identity(c.services).stepUpWebAuthnOptions(c.actor!) } };
  },
});

export const webauthnRegisterOptionsRoute = defineRoute({
  ...auth('webauthnRegisterOptions', 'POST', 'webauthn/register/options', 'Add a security key or passkey: the creation options (step-up required)'),
  permission: AUTHENTICATED,
  audit: 'auth.mfa.enroll',
  schema: { response: { 200: OptionsBody } },
  async handler(c) {
    return { status: 200, body: { options: await identity(c.services).webauthnRegisterOptions(c.actor!) } };
  },
});

export const webauthnRegisterRoute = defineRoute({
  ...auth('webauthnRegister', 'POST', 'webauthn/register', 'Add a security key or passkey: verify the attestation (step-up required)'),
  permission: AUTHENTICATED,
  audit: 'auth.mfa.enroll',
  bodyLimit: () => 64 * 1024,
  schema: {
    body: Type.Object({ response: WebAuthnRegistration, name: Type.String({ pattern: '^[^\\u0000-\\u001f\\u007f]{1,64}$' }) }, closed),
    response: { 201: Type.Object({ id: Type.String(), name: Type.String() }, closed) },
  },
  async handler(c) {
    return { status: 201, body: await identity(c.services).webauthnRegister(c.actor!, c.body) };
  },
});

export const webauthnRemoveRoute = defineRoute({
  ...auth('webauthnRemove', 'DELETE', 'webauthn/:id', 'Remove one of your security keys (step-up required)'),
  permission: AUTHENTICATED,
  audit: 'auth.mfa.remove',
  schema: { params: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{16,1024}$' }) }, closed), response: { 200: Empty } },
  async handler(c) {
    await identity(c.services).webauthnRemove(c.actor!, c.params.id);
    return { status: 200, body: {} };
  },
});

export const totpBeginRoute = defineRoute({
  ...auth('totpBegin', 'POST', 'totp', 'Enrol or replace TOTP: a new secret (step-up required; the old one stays until confirmed)'),
  permission: AUTHENTICATED,
  audit: 'auth.mfa.enroll',
  schema: { response: { 200: TotpSecretBody } },
  async handler(c) {
    return { status: 200, body: await identity(c.services).totpBegin(c.actor!) };
  },
});

export const totpConfirmRoute = defineRoute({
  ...auth('totpConfirm', 'POST', 'totp/confirm', 'Enrol or replace TOTP: confirm with a code'),
  permission: AUTHENTICATED,
  audit: 'auth.mfa.enroll',
  bodyLimit: smallBody,
  schema: { body: Type.Object({ code: TotpCode }, closed), response: { 200: Type.Object({ recoveryCodes: Nullable(Type.Array(Type.String())) }, closed) } },
  async handler(c) {
    return { status: 200, body: await identity(c.services).totpConfirm(c.actor!, c.body.code) };
  },
});

export const recoveryCodesRoute = defineRoute({
  ...auth('regenerateRecoveryCodes', 'POST', 'recovery-codes', 'New recovery codes (shown once; the old ones stop working; step-up required)'),
  permission: AUTHENTICATED,
  audit: 'auth.recovery_codes.generate',
  schema: { response: { 200: RecoveryCodesBody } },
  async handler(c) {
    return { status: 200, body: await identity(c.services).regenerateRecoveryCodes(c.actor!) };
  },
});

export const changePasswordRoute = defineRoute({
  ...auth('changePassword', 'POST', 'password', 'Change your password (current password and step-up required)'),
  permission: AUTHENTICATED,
  audit: 'auth.password.change',
  bodyLimit: smallBody,
  schema: { body: Type.Object({ current: Password, password: Password }, closed), response: { 200: Empty } },
  async handler(c) {
    await identity(c.services).changePassword(c.actor!, c.body);
    return { status: 200, body: {} };
  },
});

export const listSessionsRoute = defineRoute({
  ...auth('listSessions', 'GET', 'sessions', 'Your active sessions; with all=true every administrator\'s (sessions.manage)'),
  permission: AUTHENTICATED,
  servicePermissions: ['sessions.manage'],
  schema: {
    querystring: Type.Object({ all: Type.Optional(Type.Union([Type.Literal('true'), Type.Literal('false')])) }, closed),
    response: { 200: Type.Object({ sessions: Type.Array(SessionViewBody) }, closed) },
  },
  async handler(c) {
    return { status: 200, body: { sessions: await identity(c.services).listSessions(c.actor!, c.query.all === 'true') } };
  },
});

export const revokeSessionRoute = defineRoute({
  ...auth('revokeSession', 'DELETE', 'sessions/:handle', 'Revoke a session: your own, or anyone\'s with sessions.manage'),
  permission: AUTHENTICATED,
  servicePermissions: ['sessions.manage'],
  audit: 'auth.session.revoke',
  schema: { params: Type.Object({ handle: Handle }, closed), response: { 200: Empty } },
  async handler(c) {
    await identity(c.services).revokeSession(c.actor!, c.params.handle);
    return { status: 200, body: {} };
  },
});

export const createAccountRoute = defineRoute({
  id: 'createAccount',
  method: 'POST',
  url: '/api/v1/accounts',
  summary: 'Create a local administrator (password; MFA is enrolled at the first sign-in); four-eyes action account.create',
  tags: ['accounts'],
  permission: 'admins.manage',
  audit: 'account.create',
  approval: 'account.create',
  bodyLimit: smallBody,
  schema: {
    body: Type.Object({ username: Username, password: Password, breakGlass: Type.Optional(Type.Boolean()) }, closed),
    response: { 201: Type.Object({ id: Type.String(), username: Type.String() }, closed) },
  },
  async handler(c) {
    const input: { username: string; password: string; breakGlass?: boolean } = { username: c.body.username, password: c.body.password };
    if (c.body.breakGlass !== undefined) input.breakGlass = c.body.breakGlass;
    return { status: 201, body: await identity(c.services).createAccount(c.actor!, input) };
  },
});

const AdminIdParams = Type.Object({ id: AdminId }, closed);
const accountState = (enabled: boolean) => defineRoute({
  id: enabled ? 'enableAccount' : 'disableAccount',
  method: 'POST',
  url: `/api/v1/accounts/:id/${enabled ? 'enable' : 'disable'}`,
  summary: enabled ? 'Re-enable an administrator' : 'Disable an administrator (ends all its sessions; its tokens stop working)',
  tags: ['accounts'],
  permission: 'admins.manage',
  audit: enabled ? 'account.enable' : 'account.disable',
  schema: { params: AdminIdParams, response: { 200: Empty } },
  async handler(c: Ctx<{ params: typeof AdminIdParams; response: { 200: typeof Empty } }>): Promise<RouteReply> {
    await identity(c.services).setAccountEnabled(c.actor!, c.params.id, enabled);
    return { status: 200, body: {} };
  },
});
export const disableAccountRoute = accountState(false);
export const enableAccountRoute = accountState(true);

const OidcQuery = Type.Object({
  code: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,4096}$' })),
  state: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,512}$' })),
  iss: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,2048}$' })),
  session_state: Type.Optional(Type.String({ pattern: '^[\\x21-\\x7e]{1,1024}$' })),
  error: Type.Optional(Type.String({ pattern: '^[\\x20-\\x7e]{1,256}$' })),
  error_description: Type.Optional(Type.String({ pattern: '^[\\x20-\\x7e]{0,1024}$' })),
}, closed);

function oidcOf(services: AdminServices) {
  const o = identity(services).oidc;
  if (!o) throw new RampartError('not_found', 'not found', 'oidc not configured');
  return o;
}

export const oidcStartRoute = defineRoute({
  ...auth('oidcStart', 'GET', 'oidc/start', 'Single sign-on: redirect to the identity provider (authorization code + PKCE)'),
  permission: null,
  schema: { response: { 302: Redirect } },
  async handler(c) {
    const r = await oidcOf(c.services).start(rc(c));
    return { status: 302, body: null, headers: { location: r.location, 'set-cookie': r.setCookie } };
  },
});

export const oidcCallbackRoute = defineRoute({
  ...auth('oidcCallback', 'GET', 'oidc/callback', 'Single sign-on: the identity provider\'s redirect back; starts the session'),
  permission: null,
  audit: 'auth.login',
  schema: { querystring: OidcQuery, response: { 302: Redirect } },
  async handler(c) {
    const { setCookie, clearCookie } = await oidcOf(c.services).callback({ ...c.query }, rc(c));
    return { status: 302, body: null, headers: { location: '/', 'set-cookie': [setCookie ?? '', clearCookie].filter((x) => x !== '') } };
  },
});
