// A real, small OpenID provider for tests (node:http): discovery, JWKS, an
// authorization endpoint that "signs in" a configured user, and a token
// endpoint that checks the client secret, the code, the redirect URI and the
// PKCE verifier, then issues an ES256-signed ID token. Hooks let tests make
// it misbehave (wrong audience, wrong issuer, other nonce, no MFA).
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';

export interface ProviderUser {
  sub: string;
  preferred_username?: string;
  groups?: string[];
  amr?: string[];
}

interface PendingCode {
  clientId: string;
  redirectUri: string;
  challenge: string;
  nonce: string | undefined;
  user: ProviderUser;
}

export interface TestProvider {
  issuer: string;
  /** Who signs in at the next /authorize. */
  user: ProviderUser;
  /** Changes the ID token claims just before signing. */
  tamper: ((claims: Record<string, unknown>) => void) | undefined;
  tokenRequests: number;
  close(): Promise<void>;
}

const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export async function startTestProvider(client: { id: string; secret: string }): Promise<TestProvider> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = randomBytes(8).toString('hex');
  const codes = new Map<string, PendingCode>();
  const state: { issuer: string } = { issuer: '' };
  const provider: TestProvider = {
    issuer: '',
    user: { sub: 'user-1' },
    tamper: undefined,
    tokenRequests: 0,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  function idToken(clientId: string, nonce: string | undefined, user: ProviderUser): string {
    const now = Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = { iss: state.issuer, aud: clientId, sub: user.sub, iat: now, exp: now + 300, ...(nonce ? { nonce } : {}) };
    if (user.preferred_username) claims.preferred_username = user.preferred_username;
    if (user.groups) claims.groups = user.groups;
    if (user.amr) claims.amr = user.amr;
    provider.tamper?.(claims);
    const input = `${b64u(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' }))}.${b64u(JSON.stringify(claims))}`;
    const sig = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${b64u(sig)}`;
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', state.issuer);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return json(200, {
        issuer: state.issuer,
        authorization_endpoint: `${state.issuer}/authorize`,
        token_endpoint: `${state.issuer}/token`,
        jwks_uri: `${state.issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
      });
    }
    if (req.method === 'GET' && url.pathname === '/jwks') {
      return json(200, { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }] });
    }
    if (req.method === 'GET' && url.pathname === '/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== client.id || q.get('response_type') !== 'code' || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
        return json(400, { error: 'invalid_request' });
      }
      const code = randomBytes(16).toString('hex');
      codes.set(code, { clientId: client.id, redirectUri: q.get('redirect_uri')!, challenge: q.get('code_challenge')!, nonce: q.get('nonce') ?? undefined, user: { ...provider.user } });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state') ?? '');
      res.writeHead(302, { location: back.href });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/token') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        provider.tokenRequests++;
        const p = new URLSearchParams(body);
        const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
        const [id, secret] = basic ? Buffer.from(basic[1]!, 'base64').toString().split(':').map(decodeURIComponent) : [];
        if (id !== client.id || secret !== client.secret) return json(401, { error: 'invalid_client' });
        const pending = codes.get(p.get('code') ?? '');
        codes.delete(p.get('code') ?? '');
        if (!pending || p.get('grant_type') !== 'authorization_code' || p.get('redirect_uri') !== pending.redirectUri) return json(400, { error: 'invalid_grant' });
        const verifier = p.get('code_verifier') ?? '';
        if (b64u(createHash('sha256').update(verifier).digest()) !== pending.challenge) return json(400, { error: 'invalid_grant' });
        return json(200, { access_token: randomBytes(16).toString('hex'), token_type: 'Bearer', expires_in: 300, id_token: idToken(pending.clientId, pending.nonce, pending.user) });
      });
      return;
    }
    json(404, { error: 'not_found' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr !== 'object') throw new Error('no address');
  state.issuer = `http://127.0.0.1:${addr.port}`;
  provider.issuer = state.issuer;
  return provider;
}
