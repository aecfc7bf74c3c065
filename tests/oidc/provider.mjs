// panva's oidc-provider on 127.0.0.1 for tokendesk's conformance tests. Prints one
// JSON line with the issuer once it listens; stops when its standard input closes
// (the test process went away), so no provider outlives its test.
import Provider from 'oidc-provider';

// Standard output carries only the one JSON line; the provider's notices go to stderr.
console.log = console.info = console.warn = (...args) => process.stderr.write(`${args.join(' ')}\n`);

const SECRET = 'conformance-secret:with/odd&chars';
const REFRESH_TTL = Number(process.env.REFRESH_TTL || 0);

const configuration = {
  clients: [
    {
      // A native app: the device flow, and the browser sign-in with PKCE to a
      // loopback redirect URI (any port, this path).
      client_id: 'tokendesk',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: [
        'urn:ietf:params:oauth:grant-type:device_code',
        'authorization_code',
        'refresh_token',
      ],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
    },
    {
      client_id: 'tokendesk-confidential',
      client_secret: SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
      response_types: [],
      redirect_uris: [],
    },
  ],
  features: {
    deviceFlow: { enabled: true },
    devInteractions: { enabled: true },
    // RFC 7009, for Clear Token's "also revoke it at the provider".
    revocation: { enabled: true },
    // RFC 7662, for Dovecot's `passdb oauth2`: the mail servers of the tests check
    // the XOAUTH2 tokens they are given by asking the provider.
    introspection: { enabled: true },
  },
  // The mailbox an access token is for, as Dovecot's username_attribute reads it.
  async extraTokenClaims(ctx, token) {
    if (token.kind === 'AccessToken' && token.accountId) {
      return { email: `${token.accountId}@contoso.test` };
    }
    return undefined;
  },
  // The default: the claims go to the userinfo endpoint, the id_token names only `sub`.
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@contoso.test`,
          email_verified: true,
          preferred_username: `${id}@contoso.test`,
          name: id,
        };
      },
    };
  },
  // Every refresh rotates; presenting a used refresh token revokes the grant.
  rotateRefreshToken: () => true,
  ttl: {
    DeviceCode: Number(process.env.DEVICE_CODE_TTL || 600),
    // With REFRESH_TTL the provider really ends refresh tokens after that many
    // seconds (and says so in every token answer, below).
    ...(REFRESH_TTL ? { RefreshToken: REFRESH_TTL } : {}),
  },
  cookies: { keys: ['tokendesk-conformance-cookie-key'] },
};

const provider = new Provider('http://127.0.0.1', configuration);
provider.proxy = false;

// What the tests read off the provider: how often its discovery document was asked
// for (GET /_test/discovery-count). With REFRESH_TTL every token answer that carries
// a refresh token also states its lifetime, as Keycloak's `refresh_expires_in` does;
// oidc-provider itself states none.
// And how many refresh tokens it redeemed (GET /_test/refresh-count): answers to
// grant_type=refresh_token that succeeded.
let discoveryRequests = 0;
let refreshes = 0;
provider.use(async (ctx, next) => {
  if (ctx.path === '/_test/discovery-count') {
    ctx.body = { count: discoveryRequests };
    return;
  }
  if (ctx.path === '/_test/refresh-count') {
    ctx.body = { count: refreshes };
    return;
  }
  if (ctx.path === '/.well-known/openid-configuration') discoveryRequests += 1;
  await next();
  if (ctx.path === '/token' && ctx.status === 200 && ctx.oidc?.params?.grant_type === 'refresh_token') {
    refreshes += 1;
  }
  if (REFRESH_TTL && ctx.path === '/token' && ctx.body && ctx.body.refresh_token) {
    ctx.body.refresh_expires_in = REFRESH_TTL;
  }
});
const server = provider.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  // The issuer must carry the port the provider really listens on.
  provider.issuer = `http://127.0.0.1:${port}`;
  process.stdout.write(`${JSON.stringify({ issuer: provider.issuer, secret: SECRET })}\n`);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
// Internal errors reach the test's stderr (shown when a test inherits it).
provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err.stack}\n`));
