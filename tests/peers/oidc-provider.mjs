// A real, certified OpenID provider (npm `oidc-provider`) for the integration tests, on loopback.
// Environment: REDIRECT_URI (the appliance's callback), ACCOUNTS (JSON: login -> claims).
// Prints "READY <port>" once it listens. Its dev login form accepts any password for a known login.
import http from 'node:http';
import Provider from 'oidc-provider';

const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: 'acorn',
      client_secret: 'acorn-test-secret',
      redirect_uris: [process.env.REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    }],
    pkce: { required: () => true },
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    // Put the requested claims into the ID token itself (the appliance reads only the ID token).
    conformIdTokenClaims: false,
    findAccount: async (ctx, id) => (accounts[id]
      ? { accountId: id, claims: async () => ({ sub: id, ...accounts[id] }) }
      : undefined),
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['acorn-test-cookie-key'] },
  });
  provider.proxy = false;
  server.on('request', provider.callback());
  console.log(`READY ${port}`);
});
process.on('SIGTERM', () => process.exit(0));
