/**
 * Identity tokens checked against a JWKS served over HTTP on 127.0.0.1 by the local issuer, the way a
 * GitHub Actions or Kubernetes issuer serves its keys.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { base64url, type JWK } from 'jose';

import { IdentityError, IdentityVerifier } from '../activities/identity';
import { createIssuerKeys, mintToken, serveJwks } from '../scripts/local-issuer';

const ISSUER = 'https://ci.example.test';
let server: Server;
let privateJwk: JWK;
let verifier: IdentityVerifier;
let jwksUrl: string;

before(async () => {
  const keys = await createIssuerKeys();
  privateJwk = keys.privateJwk;
  const served = await serveJwks(keys.jwks);
  server = served.server;
  jwksUrl = served.url;
  verifier = new IdentityVerifier([
    {
      issuer: ISSUER,
      audience: 'jit-access',
      jwks: { url: served.url },
      kind: 'ci',
      subjectClaim: 'repository',
      algorithms: ['ES256'],
      clockToleranceSeconds: 30,
      maxTokenAgeSeconds: 600,
    },
  ]);
});

after(() => {
  server?.close();
});

function mint(change: Partial<Parameters<typeof mintToken>[1]> = {}, key: JWK = privateJwk): Promise<string> {
  return mintToken(key, {
    issuer: ISSUER,
    subject: 'repo:acme/orders:ref:refs/heads/main',
    claims: { repository: 'acme/orders', ref: 'refs/heads/main', release_approved: true },
    ...change,
  });
}

async function rejectsWith(token: string, message: RegExp): Promise<void> {
  await assert.rejects(verifier.verify(token), (err: unknown) => {
    assert.ok(err instanceof IdentityError, `expected an IdentityError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.ok(!err.message.includes(token), 'the message must not contain the token');
    return true;
  });
}

describe('identity verification', () => {
  it('accepts a valid token and maps its claims', async () => {
    const identity = await verifier.verify(await mint());
    assert.equal(identity.principal, 'ci:acme/orders');
    assert.equal(identity.issuer, ISSUER);
    assert.equal(identity.claims.release_approved, true);
    assert.equal(identity.claims.ref, 'refs/heads/main');
  });

  it('rejects an expired token', async () => {
    await rejectsWith(await mint({ ttlSeconds: 60, ageSeconds: 600 }), /has expired/);
  });

  it('rejects a token older than the maximum age', async () => {
    await rejectsWith(await mint({ ttlSeconds: 3600, ageSeconds: 900 }), /issued longer ago than the maximum token age/);
  });

  it('tolerates small clock skew only', async () => {
    await verifier.verify(await mint({ ttlSeconds: 300, ageSeconds: -20 }));
    await rejectsWith(await mint({ ttlSeconds: 300, ageSeconds: -120 }), /claim (nbf|iat) is invalid/);
  });

  it('rejects the wrong audience', async () => {
    await rejectsWith(await mint({ audience: 'another-service' }), /claim aud is invalid/);
  });

  it('rejects an unknown issuer', async () => {
    await rejectsWith(await mint({ issuer: 'https://evil.example.test' }), /issuer "https:\/\/evil.example.test" is not a configured issuer/);
  });

  it('rejects a token signed by another key', async () => {
    const other = await createIssuerKeys();
    await rejectsWith(await mint({}, other.privateJwk), /no key in the issuer's JWKS matches/);
  });

  it('rejects a forged signature with a known key id', async () => {
    const other = await createIssuerKeys();
    const forged = await mint({}, { ...other.privateJwk, kid: privateJwk.kid });
    await rejectsWith(forged, /signature does not verify/);
  });

  it('rejects alg none', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const now = Math.floor(Date.now() / 1000);
    const payload = base64url.encode(JSON.stringify({ iss: ISSUER, aud: 'jit-access', sub: 'x', repository: 'acme/orders', iat: now, exp: now + 300 }));
    await rejectsWith(`${header}.${payload}.`, /unsigned \(alg "none"\)/);
  });

  it('rejects HS256 algorithm confusion', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: privateJwk.kid }));
    const payload = base64url.encode(JSON.stringify({ iss: ISSUER, aud: 'jit-access', repository: 'acme/orders' }));
    await rejectsWith(`${header}.${payload}.c2lnbmF0dXJl`, /algorithm HS256 is not allowed for issuer/);
  });

  it('rejects a tampered payload', async () => {
    const [header, , signature] = (await mint()).split('.');
    const payload = base64url.encode(JSON.stringify({ iss: ISSUER, aud: 'jit-access', repository: 'acme/payroll', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300 }));
    await rejectsWith(`${header}.${payload}.${signature}`, /signature does not verify/);
  });

  it('rejects text that is not a JWT', async () => {
    await rejectsWith('not-a-token', /not a compact JWT/);
  });

  it('accepts a SPIFFE ID as the subject', async () => {
    const spiffe = new IdentityVerifier([
      { issuer: ISSUER, audience: 'jit-access', jwks: { url: jwksUrl }, kind: 'spiffe', subjectClaim: 'sub', algorithms: ['ES256'], clockToleranceSeconds: 30, maxTokenAgeSeconds: 600 },
    ]);
    const identity = await spiffe.verify(await mint({ subject: 'spiffe://example.org/ns/payments/sa/api' }));
    assert.equal(identity.principal, 'spiffe:spiffe://example.org/ns/payments/sa/api');
  });

  it('rejects a subject claim with unsafe characters', async () => {
    await rejectsWith(await mint({ claims: { repository: 'acme orders; drop' } }), /claim repository must be a name/);
  });
});

describe('issuers file', () => {
  it('names the file and field when invalid', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'jit-issuers-')), 'issuers.json');
    writeFileSync(path, JSON.stringify({ issuers: [{ issuer: ISSUER, audience: 'jit-access', jwks: { url: 'not a url' }, kind: 'ci' }] }));
    assert.throws(() => IdentityVerifier.fromFile(path), new RegExp(`issuers file ${path} is invalid: issuers.0.jwks`));
  });

  it('rejects alg none in the configuration', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'jit-issuers-')), 'issuers.json');
    writeFileSync(path, JSON.stringify({ issuers: [{ issuer: ISSUER, audience: 'a', jwks: { file: 'jwks.json' }, kind: 'ci', algorithms: ['none'] }] }));
    assert.throws(() => IdentityVerifier.fromFile(path), /issuers.0.algorithms.0/);
  });
});
