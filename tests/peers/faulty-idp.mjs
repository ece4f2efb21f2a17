// A deliberately misbehaving OpenID provider, for the bad-input tests that no conforming provider
// can produce: it signs real RS256 ID tokens (with `jose`, which oidc-provider itself uses) but
// with the fault named in ID_TOKEN_FAULT: "audience" (aud is another client), "expired" (exp in
// the past), "nonce" (a nonce from another sign-in: a replayed token) or "none" (a correct token,
// the control case). It skips login: /auth redirects back
// with a code at once. Prints "READY <port>".
import http from 'node:http';
import { generateKeyPair, exportJWK, SignJWT } from 'jose';

const fault = process.env.ID_TOKEN_FAULT || 'none';
const { publicKey, privateKey } = await generateKeyPair('RS256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
const nonces = new Map();

const server = http.createServer(async (req, res) => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const url = new URL(req.url, issuer);
  const json = (body) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
  if (url.pathname === '/.well-known/openid-configuration') {
    return json({
      issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'],
    });
  }
  if (url.pathname === '/jwks') return json({ keys: [jwk] });
  if (url.pathname === '/auth') {
    const code = `code-${Math.random().toString(36).slice(2)}`;
    nonces.set(code, url.searchParams.get('nonce'));
    const back = new URL(url.searchParams.get('redirect_uri'));
    back.searchParams.set('code', code);
    back.searchParams.set('state', url.searchParams.get('state'));
    res.writeHead(302, { location: back.toString() });
    return res.end();
  }
  if (url.pathname === '/token' && req.method === 'POST') {
    let body = '';
    for await (const chunk of req) body += chunk;
    const code = new URLSearchParams(body).get('code');
    const now = Math.floor(Date.now() / 1000);
    const idToken = await new SignJWT({ nonce: fault === 'nonce' ? 'from-another-sign-in' : nonces.get(code), email: 'alice@example.com', email_verified: true })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(issuer)
      .setSubject('alice')
      .setAudience(fault === 'audience' ? 'someone-else' : 'acorn')
      .setIssuedAt(fault === 'expired' ? now - 7200 : now)
      .setExpirationTime(fault === 'expired' ? now - 3600 : now + 600)
      .sign(privateKey);
    return json({ access_token: 'opaque', token_type: 'Bearer', expires_in: 600, id_token: idToken });
  }
  res.writeHead(404);
  res.end();
});
server.listen(0, '127.0.0.1', () => console.log(`READY ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
