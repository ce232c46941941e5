/**
 * A local OIDC issuer for tests: a key pair, its JWKS served on 127.0.0.1, and an issuers file that trusts it
 * for the kinds ci, agent, k8s and user, each under its own `iss` path.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { JWK } from 'jose';

import { createIssuerKeys, mintToken, serveJwks } from '../../scripts/local-issuer';

export interface TestIssuer {
  /** The issuers file to give the worker as JIT_ISSUERS. */
  issuersFile: string;
  /** Mints a token for `kind:name`, with extra claims. */
  mint(principal: string, claims?: Record<string, string | number | boolean | string[]>, options?: { ttlSeconds?: number }): Promise<string>;
  /** The `iss` of tokens for one kind, such as `user`. */
  issuerFor(kind: string): string;
  /** The signing key, for tests that stand in for another signer this issuer's JWKS vouches for. */
  privateJwk: JWK;
  close(): void;
}

const KINDS = ['ci', 'agent', 'k8s', 'user'];

export async function startTestIssuer(): Promise<TestIssuer> {
  const { privateJwk, jwks } = await createIssuerKeys();
  const { server, url } = await serveJwks(jwks);
  const base = url.replace(/\/jwks\.json$/, '');

  const issuersFile = join(mkdtempSync(join(tmpdir(), 'jit-issuers-')), 'issuers.json');
  writeFileSync(
    issuersFile,
    JSON.stringify({
      issuers: KINDS.map((kind) => ({ issuer: `${base}/${kind}`, audience: 'jit-access', jwks: { url }, kind, algorithms: ['ES256'] })),
    }),
  );

  return {
    issuersFile,
    mint(principal, claims = {}, options = {}) {
      const [kind, name] = [principal.slice(0, principal.indexOf(':')), principal.slice(principal.indexOf(':') + 1)];
      return mintToken(privateJwk, {
        issuer: `${base}/${kind}`,
        subject: name,
        ttlSeconds: options.ttlSeconds,
        claims,
      });
    },
    issuerFor: (kind) => `${base}/${kind}`,
    privateJwk,
    close() {
      server.close();
    },
  };
}
