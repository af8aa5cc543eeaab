// A real OpenID Connect provider for the tests: panva's oidc-provider (OpenID Certified) on loopback, plain http,
// configured entirely from the JSON file named by argv[2] (devtools/oidc.py writes it, mode 0600):
//   { port, issuer, jwks: {keys: [private JWKs]}, clients: [{client_id, client_secret, redirect_uris,
//     post_logout_redirect_uris}], users: [{username, password, email, name}], audience, id_token_ttl,
//     access_token_ttl, exit_when_stdin_closes }
// What it adds to oidc-provider's defaults:
// - access tokens are RS256 JWTs for `audience` (with the user's email), even when the client names no resource;
// - our own sign-in page at /interaction/:uid (username and password), consent granted without asking;
// - prompt=select_account (Streamlit's default) accepted, and treated like prompt=login: the form always shows;
// - RP-initiated logout without a confirmation click;
// - userinfo also answers the audience's JWT access tokens (oidc-provider's own refuses them by design).
// Logs one line per request (method, path without the query, status): never a password or a token.
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';

import Provider, { errors, interactionPolicy } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { audience, issuer } = config;
const users = new Map(config.users.map((user) => [user.username, user]));
const SCOPES = 'openid email profile';
const USERINFO_PATH = '/me';

const escapeHtml = (value) => String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const sha256 = (value) => crypto.createHash('sha256').update(String(value)).digest();
const sameSecret = (given, expected) => crypto.timingSafeEqual(sha256(given), sha256(expected));

function claimsOf(user) {
  return { sub: user.username, email: user.email, email_verified: true, name: user.name };
}

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head>
<body>
${body}
</body>
</html>
`;
}

// The interaction policy: oidc-provider's login and consent, with select_account first. It is requestable (so
// prompt=select_account is no longer "unsupported") and resolved by the same sign-in form as login.
const policy = interactionPolicy.base();
policy.add(new interactionPolicy.Prompt({ name: 'select_account', requestable: true }), 0);

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    client_id: client.client_id,
    client_secret: client.client_secret,
    redirect_uris: client.redirect_uris,
    post_logout_redirect_uris: client.post_logout_redirect_uris ?? [],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // client_secret_post is accepted as well: oidc-provider treats the two as one registered method.
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: config.jwks,
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // Without this, oidc-provider leaves email and name out of the ID token of the code flow (userinfo only).
  conformIdTokenClaims: false,
  async findAccount(ctx, sub) {
    const user = users.get(sub);
    if (!user) return undefined;
    return { accountId: sub, async claims() { return claimsOf(user); } };
  },
  async extraTokenClaims(ctx, token) {
    const user = token.kind === 'AccessToken' && token.accountId ? users.get(token.accountId) : undefined;
    return user ? { email: user.email } : undefined;
  },
  features: {
    devInteractions: { enabled: false },
    dPoP: { enabled: false }, // plain Bearer tokens
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      async defaultResource(ctx, client, oneOf) {
        if (oneOf) return oneOf.includes(audience) ? audience : oneOf[0];
        return audience;
      },
      // At the token endpoint without a resource parameter: the one granted, not an opaque userinfo token.
      async useGrantedResource() {
        return true;
      },
      async getResourceServerInfo(ctx, resourceIndicator) {
        if (resourceIndicator !== audience) throw new errors.InvalidTarget();
        return {
          scope: SCOPES,
          audience,
          accessTokenTTL: config.access_token_ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256', kid: config.jwks.keys[0].kid } },
        };
      },
    },
    rpInitiatedLogout: {
      enabled: true,
      // No confirmation click: the form confirms itself (a button for a client without JavaScript).
      async logoutSource(ctx, form) {
        const confirming = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
        ctx.body = page(
          'Signing out',
          `${confirming}
<p>Signing out…</p>
<noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript>
<script>document.getElementById('op.logoutForm').submit();</script>`,
        );
      },
      async postLogoutSuccessSource(ctx) {
        ctx.body = page('Signed out', '<h1>Signed out</h1>');
      },
    },
  },
  interactions: {
    policy,
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  pkce: { required: () => false }, // offered (S256) and checked when sent; Authlib sends it when advertised
  ttl: {
    AccessToken: config.access_token_ttl,
    IdToken: config.id_token_ttl,
    AuthorizationCode: 60,
    Interaction: 600,
    Session: 24 * 60 * 60,
    Grant: 24 * 60 * 60,
    RefreshToken: 24 * 60 * 60,
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    const details = Object.entries(out)
      .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
      .join('\n');
    ctx.body = page('Sign-in error', `<h1>Sign-in error</h1>\n${details}`);
  },
});

for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error', 'userinfo.error']) {
  provider.on(event, (ctx, err) => {
    const description = err.error_description ? ` (${err.error_description})` : '';
    const cause = err.cause ? `, because ${err.cause.name}: ${err.cause.message}` : '';
    console.log(`oidc-provider ${event}: ${err.name}: ${err.message}${description}${cause}`);
  });
}

// ---- The sign-in page --------------------------------------------------------------------------------------------

function signInPage(uid, { username = '', wrong = false } = {}) {
  const action = `/interaction/${encodeURIComponent(uid)}`;
  return page(
    'Sign in',
    `<h1>Sign in</h1>
${wrong ? '<p role="alert">Wrong username or password.</p>' : ''}
<form method="post" action="${action}" autocomplete="off">
  <p><label for="username">Username</label><br><input id="username" name="username" type="text" value="${escapeHtml(username)}" autofocus required></p>
  <p><label for="password">Password</label><br><input id="password" name="password" type="password" required></p>
  <p><button type="submit">Sign in</button></p>
</form>`,
  );
}

function send(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(html),
  });
  res.end(html);
}

async function readForm(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function grantConsent(req, res, details) {
  // As oidc-provider's example: a Grant with what the request asked for (scopes, claims, resource scopes).
  const { prompt: { details: missing }, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, uid) {
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) {
      send(res, 400, page('Sign-in error', '<h1>Sign-in error</h1>\n<p>This sign-in has expired: start again from the application.</p>'));
      return;
    }
    throw err;
  }
  if (details.uid !== uid) {
    send(res, 400, page('Sign-in error', '<h1>Sign-in error</h1>\n<p>This sign-in is not the current one: start again from the application.</p>'));
    return;
  }
  const { name } = details.prompt;
  if (name === 'consent') {
    await grantConsent(req, res, details);
    return;
  }
  if (name !== 'login' && name !== 'select_account') {
    send(res, 400, page('Sign-in error', `<h1>Sign-in error</h1>\n<p>Unexpected prompt ${escapeHtml(name)}.</p>`));
    return;
  }
  if (req.method === 'GET') {
    send(res, 200, signInPage(uid));
    return;
  }
  const form = await readForm(req);
  const username = form.get('username') ?? '';
  const user = users.get(username);
  if (!user || !sameSecret(form.get('password') ?? '', user.password)) {
    send(res, 200, signInPage(uid, { username, wrong: true }));
    return;
  }
  // Resolves login and select_account alike (an unrequested result key is ignored).
  await provider.interactionFinished(
    req,
    res,
    { login: { accountId: user.username }, select_account: {} },
    { mergeWithLastSubmission: false },
  );
}

// ---- userinfo for the audience's JWT access tokens ---------------------------------------------------------------

const verifyKeys = new Map(
  config.jwks.keys.map((jwk) => [jwk.kid, crypto.createPublicKey({ key: jwk, format: 'jwk' })]),
);

// The claims of a JWT access token this provider issued for `audience`, or undefined.
function verifiedAccessToken(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const header = JSON.parse(Buffer.from(parts[0], 'base64url'));
    const key = header.alg === 'RS256' ? verifyKeys.get(header.kid) : undefined;
    if (!key) return undefined;
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    if (!crypto.verify('sha256', signed, key, Buffer.from(parts[2], 'base64url'))) return undefined;
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url'));
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    const now = Math.floor(Date.now() / 1000);
    if (claims.iss !== issuer || !audiences.includes(audience) || !(claims.exp > now)) return undefined;
    return claims;
  } catch {
    return undefined;
  }
}

function jwtUserinfo(req, res) {
  const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(req.headers.authorization ?? '');
  if (!match) return false; // not one of ours: oidc-provider's own userinfo answers
  const claims = verifiedAccessToken(match[1]);
  const user = claims ? users.get(claims.sub) : undefined;
  const scopes = new Set((claims?.scope ?? '').split(' '));
  let status = 200;
  let body;
  const headers = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' };
  if (!user) {
    status = 401;
    headers['www-authenticate'] = `Bearer realm="${issuer}", error="invalid_token"`;
    body = { error: 'invalid_token', error_description: 'invalid token provided' };
  } else if (!scopes.has('openid')) {
    status = 403;
    headers['www-authenticate'] = `Bearer realm="${issuer}", error="insufficient_scope", scope="openid"`;
    body = { error: 'insufficient_scope', error_description: 'access token missing openid scope' };
  } else {
    const all = claimsOf(user);
    body = { sub: all.sub };
    if (scopes.has('email')) Object.assign(body, { email: all.email, email_verified: all.email_verified });
    if (scopes.has('profile')) body.name = all.name;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(text) });
  res.end(text);
  return true;
}

// ---- The server ----------------------------------------------------------------------------------------------------

const oidc = provider.callback();

const server = http.createServer(async (req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  res.on('finish', () => console.log(`${req.method} ${path} ${res.statusCode}`));
  try {
    const interactionMatch = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(path);
    if (interactionMatch && (req.method === 'GET' || req.method === 'POST')) {
      await interaction(req, res, interactionMatch[1]);
    } else if (path === USERINFO_PATH && (req.method === 'GET' || req.method === 'POST') && jwtUserinfo(req, res)) {
      // answered
    } else {
      await oidc(req, res);
    }
  } catch (err) {
    console.log(`error on ${req.method} ${path}: ${err.name}: ${err.message}`);
    if (!res.headersSent) send(res, 500, page('Server error', '<h1>Server error</h1>'));
    else res.end();
  }
});

function shutDown() {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}

process.on('SIGTERM', shutDown);
process.on('SIGINT', shutDown);
if (config.exit_when_stdin_closes) {
  // The Python side holds the other end of stdin: when it dies, so does this process.
  process.stdin.on('end', shutDown);
  process.stdin.on('error', shutDown);
  process.stdin.resume();
}

server.listen(config.port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer} (audience ${audience})`);
});
