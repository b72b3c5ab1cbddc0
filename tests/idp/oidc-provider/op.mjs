// A real OpenID provider for the end-to-end tests: panva's oidc-provider
// (certified), configured as a deployment that issues JWT access tokens for
// a resource server would be. Started by tests/oidcprovider_test.go:
//
//   node op.mjs <port> <config JSON>
//
// config: {"backchannel_logout_uri": "...", "redirect_uri": "...",
// "tls": {"cert": "<PEM file>", "key": "<PEM file>"}}. With tls it serves
// HTTPS (issuer https://127.0.0.1:<port>) and asks clients for a
// certificate: the mtls client's access tokens are bound to it (RFC 8705).
// Every start makes a new signing key (a restart is a key rotation).
// It prints "ready" once it listens on 127.0.0.1:<port>.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const cfg = JSON.parse(process.argv[3] || '{}');
const issuer = `${cfg.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
export const resource = 'https://api.test';

const jwk = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
jwk.kid = crypto.randomUUID();
jwk.use = 'sig';
jwk.alg = 'RS256';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'app',
      client_secret: 'app-secret-app-secret-app-secret',
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [cfg.redirect_uri || 'http://127.0.0.1/cb'],
      post_logout_redirect_uris: [cfg.redirect_uri || 'http://127.0.0.1/cb'],
      backchannel_logout_uri: cfg.backchannel_logout_uri,
      backchannel_logout_session_required: true,
      scope: 'openid offline_access api',
    },
    {
      // A second client (a back-end worker): its tokens are not app's to
      // revoke (RFC 7009 section 2.1).
      client_id: 'worker',
      client_secret: 'worker-secret-worker-secret-worker',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      // global_token_revocation: the worker may call a Global Token
      // Revocation endpoint (tests/global_token_revocation_test.go).
      scope: 'api global_token_revocation',
    },
    {
      // A client whose access tokens are bound to the TLS client
      // certificate it calls the token endpoint with (RFC 8705 section 3:
      // cnf.x5t#S256); it authenticates with its secret.
      client_id: 'mtls',
      client_secret: 'mtls-secret-mtls-secret-mtls-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      scope: 'api',
      tls_client_certificate_bound_access_tokens: true,
    },
  ],
  scopes: ['openid', 'offline_access', 'api', 'global_token_revocation'],
  jwks: { keys: [jwk] },
  cookies: { keys: ['test-cookie-key-test-cookie-key'] },
  pkce: { required: () => false },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  // Refresh tokens for every code grant of a client allowed them (the
  // default asks for offline_access and consent), rotated on each use.
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  // What the gateway needs to end a session's access tokens: their sid.
  extraTokenClaims: (ctx, token) => (token.sid ? { sid: token.sid } : undefined),
  // oidc-provider refuses outgoing calls (back-channel logout) to
  // special-use addresses, loopback and private networks among them: a
  // gateway on the same host or network must be let through.
  fetch: (url, options) => {
    delete options.dispatcher;
    return globalThis.fetch(url, options);
  },
  ttl: { AccessToken: 300, ClientCredentials: 300, IdToken: 300, RefreshToken: 3600 },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    backchannelLogout: { enabled: true },
    // DPoP-bound access tokens (RFC 9449) when the client sends a proof;
    // on by default in 9.x, said here because a test relies on it.
    dPoP: { enabled: true },
    // Certificate-bound access tokens (RFC 8705) for the mtls client: the
    // certificate is the one the client presented in this TLS connection
    // (served over HTTPS only when the config has tls).
    mTLS: {
      enabled: true,
      certificateBoundAccessTokens: true,
      getCertificate: (ctx) => ctx.socket.getPeerX509Certificate?.(),
    },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Without a resource parameter the access token is opaque; with
      // resource=https://api.test it is a JWT (RFC 9068) for the API.
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) throw new Error('unknown resource');
        return {
          scope: 'api global_token_revocation',
          audience: resource,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 300,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});
provider.on('backchannel.error', (ctx, err) => console.error('backchannel.error', err?.stack || err));
provider.on('backchannel.success', (client) => console.error('backchannel.success', client.clientId));

if (cfg.tls) {
  // requestCert without rejectUnauthorized: the OP reads whatever
  // certificate the client holds (self-signed ones too, as RFC 8705
  // section 3 allows for binding) and decides itself.
  https
    .createServer({
      cert: fs.readFileSync(cfg.tls.cert),
      key: fs.readFileSync(cfg.tls.key),
      requestCert: true,
      rejectUnauthorized: false,
    }, provider.callback())
    .listen(port, '127.0.0.1', () => console.log('ready'));
} else {
  provider.listen(port, '127.0.0.1', () => console.log('ready'));
}
