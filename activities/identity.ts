/**
 * Verified workload identity: an OIDC JWT from a configured issuer (GitHub Actions, a Kubernetes service
 * account, a SPIFFE JWT-SVID, an internal issuer), checked with `jose` against the issuer's JWKS.
 *
 * Only a verified token makes an identity. The issuer is chosen by the token's unverified `iss` claim, and
 * then everything is checked against that issuer's own configuration: signature, algorithm, audience, expiry,
 * not-before and issued-at with a bounded clock skew. A token that names no configured issuer is rejected.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
} from 'jose';
import { z } from 'zod';

import type { VerifiedIdentity } from '../workflows/definitions';
import { readConfigFile } from './config-file';

export type { VerifiedIdentity };

/** Signature algorithms an issuer may use. `none` and the HMAC family are never accepted. */
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

const issuerSchema = z
  .object({
    /** The exact `iss` value. */
    issuer: z.string().min(1),
    /** The `aud` value tokens must carry for this system, such as `jit-access`. */
    audience: z.string().min(1),
    /** The issuer's key set: a JWKS URL, or a file for issuers that cannot be reached. */
    jwks: z.union([z.object({ url: z.url() }).strict(), z.object({ file: z.string().min(1) }).strict()]),
    /** The identity kind this issuer vouches for, such as `ci`, `k8s`, `spiffe` or `agent`. */
    kind: z.string().regex(/^[a-z][a-z0-9-]*$/, 'use a lowercase word such as ci or k8s'),
    /** The claim that names the workload, such as `sub` or `repository`. */
    subjectClaim: z.string().min(1).default('sub'),
    algorithms: z.array(z.enum(ALGORITHMS)).min(1).default(['RS256', 'ES256']),
    /** Allowed clock difference for exp, nbf and iat, in seconds. */
    clockToleranceSeconds: z.number().int().min(0).max(300).default(30),
    /** Tokens issued longer ago than this are rejected, in seconds, even when not yet expired. */
    maxTokenAgeSeconds: z.number().int().min(1).max(24 * 3600).default(3600),
  })
  .strict();

export const issuersSchema = z.object({ issuers: z.array(issuerSchema).min(1) }).strict();

export type IssuerConfig = z.output<typeof issuerSchema>;

/** A token that was not accepted. The message names the check that failed and never contains the token. */
export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdentityError';
  }
}

/** Verifies identity tokens against the configured issuers. Keys of remote issuers are cached by jose. */
export class IdentityVerifier {
  private readonly keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  constructor(private readonly issuers: readonly IssuerConfig[], private readonly baseDir = process.cwd()) {}

  /** Reads and validates an issuers file; throws an Error naming the file and field when it is invalid. */
  static fromFile(path: string): IdentityVerifier {
    const { data } = readConfigFile(path, issuersSchema, 'issuers file', 'set JIT_ISSUERS to the issuers file');
    return new IdentityVerifier(data.issuers, dirname(path));
  }

  /** Verifies a compact JWT and returns the identity it proves; throws IdentityError otherwise. */
  async verify(token: string, now: Date = new Date()): Promise<VerifiedIdentity> {
    const { header, payload } = decodeUnverified(token);
    if (!header.alg || header.alg === 'none') throw new IdentityError('the token is unsigned (alg "none")');

    const issuer = this.issuers.find((candidate) => candidate.issuer === payload.iss);
    if (!issuer) throw new IdentityError(`the token's issuer ${JSON.stringify(payload.iss)} is not a configured issuer`);
    if (!(issuer.algorithms as readonly string[]).includes(header.alg)) {
      throw new IdentityError(`algorithm ${header.alg} is not allowed for issuer ${issuer.issuer} (allowed: ${issuer.algorithms.join(', ')})`);
    }

    let verified: JWTPayload;
    try {
      ({ payload: verified } = await jwtVerify(token, this.keySet(issuer), {
        issuer: issuer.issuer,
        audience: issuer.audience,
        algorithms: issuer.algorithms,
        clockTolerance: issuer.clockToleranceSeconds,
        maxTokenAge: issuer.maxTokenAgeSeconds,
        requiredClaims: ['exp', 'iat', issuer.subjectClaim],
        currentDate: now,
      }));
    } catch (err) {
      throw new IdentityError(`the token from ${issuer.issuer} was rejected: ${describeJoseError(err)}`);
    }

    const name = verified[issuer.subjectClaim];
    if (typeof name !== 'string' || !/^[A-Za-z0-9._@/:-]{1,200}$/.test(name)) {
      throw new IdentityError(`claim ${issuer.subjectClaim} must be a name of letters, digits and . _ @ / : - (got ${JSON.stringify(name)?.slice(0, 80)})`);
    }
    return {
      principal: `${issuer.kind}:${name}`,
      issuer: issuer.issuer,
      subject: String(verified.sub ?? name),
      claims: flatClaims(verified),
      groups: Array.isArray(verified.groups) ? verified.groups.filter((group): group is string => typeof group === 'string') : [],
    };
  }

  private keySet(issuer: IssuerConfig) {
    let keys = this.keySets.get(issuer.issuer);
    if (!keys) {
      if ('url' in issuer.jwks) {
        keys = createRemoteJWKSet(new URL(issuer.jwks.url), { timeoutDuration: 5_000, cooldownDuration: 30_000 });
      } else {
        const file = resolve(this.baseDir, issuer.jwks.file);
        keys = createLocalJWKSet(JSON.parse(readFileSync(file, 'utf8')) as JSONWebKeySet) as ReturnType<typeof createRemoteJWKSet>;
      }
      this.keySets.set(issuer.issuer, keys);
    }
    return keys;
  }
}

function decodeUnverified(token: string) {
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch {
    throw new IdentityError('the identity token is not a compact JWT (header.payload.signature)');
  }
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired && err.claim === 'iat') return 'it was issued longer ago than the maximum token age';
  if (err instanceof joseErrors.JWTExpired) return 'it has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim ${err.claim} is invalid (${err.reason})`;
  if (err instanceof joseErrors.JWKSNoMatchingKey) return "no key in the issuer's JWKS matches the token's key id";
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'the signature does not verify';
  if (err instanceof joseErrors.JWKSTimeout) return "fetching the issuer's JWKS timed out";
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'its algorithm is not allowed';
  return err instanceof Error ? err.message : String(err);
}

function flatClaims(payload: JWTPayload): Record<string, string | number | boolean> {
  const claims: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries(payload)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') claims[key] = value;
  }
  return claims;
}
