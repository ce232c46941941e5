/**
 * A local OIDC token issuer for the demo and the tests: an ES256 key pair, its JWKS served over HTTP on
 * 127.0.0.1, and token minting. It plays the part of GitHub Actions, a Kubernetes API server or a SPIFFE
 * server, which sign workload tokens the same way.
 *
 *   tsx scripts/local-issuer.ts init DIR                 create DIR/private.jwk and DIR/jwks.json
 *   tsx scripts/local-issuer.ts serve DIR [--port N]     serve DIR/jwks.json at http://127.0.0.1:N/jwks.json
 *   tsx scripts/local-issuer.ts mint DIR --issuer URL --subject NAME [--audience A] [--ttl SECONDS] [--claim K=V]
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';

import { Command } from 'commander';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

/** Creates an ES256 key pair; returns the private JWK and the public JWKS, both carrying the same key id. */
export async function createIssuerKeys(): Promise<{ privateJwk: JWK; jwks: { keys: JWK[] } }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { privateJwk, jwks: { keys: [publicJwk] } };
}

export interface MintOptions {
  issuer: string;
  subject: string;
  audience?: string;
  /** Lifetime in seconds; default 300. */
  ttlSeconds?: number;
  /** Extra claims; a `groups` list is how a person's token names the person's groups. */
  claims?: Record<string, string | number | boolean | string[]>;
  /** Backdates `iat` and `nbf`, in seconds, to test age and skew limits. */
  ageSeconds?: number;
}

/** Signs a workload identity token with the issuer's private key. */
export async function mintToken(privateJwk: JWK, options: MintOptions): Promise<string> {
  const key = await importJWK(privateJwk, 'ES256');
  const now = Math.floor(Date.now() / 1000) - (options.ageSeconds ?? 0);
  return new SignJWT({ ...options.claims })
    .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid, typ: 'JWT' })
    .setIssuer(options.issuer)
    .setSubject(options.subject)
    .setAudience(options.audience ?? 'jit-access')
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 300))
    .setJti(randomUUID())
    .sign(key);
}

/** Serves a JWKS document at `/jwks.json` on 127.0.0.1; port 0 picks a free port. */
export async function serveJwks(jwks: { keys: JWK[] }, port = 0): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    if (request.method === 'GET' && request.url === '/jwks.json') {
      response.writeHead(200, { 'content-type': 'application/jwk-set+json', 'cache-control': 'max-age=60' });
      response.end(JSON.stringify(jwks));
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found: the JWKS is at /jwks.json\n');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: bound } = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${bound}/jwks.json` };
}

function readKeys(dir: string): { privateJwk: JWK; jwks: { keys: JWK[] } } {
  try {
    return {
      privateJwk: JSON.parse(readFileSync(join(dir, 'private.jwk'), 'utf8')) as JWK,
      jwks: JSON.parse(readFileSync(join(dir, 'jwks.json'), 'utf8')) as { keys: JWK[] },
    };
  } catch (err) {
    throw new Error(`cannot read the issuer keys in ${dir}: ${(err as Error).message}; create them with "init ${dir}"`);
  }
}

function buildCli(): Command {
  const program = new Command('local-issuer').description('a local OIDC issuer for the demo and the tests');

  program
    .command('init <dir>')
    .description('create a key pair: DIR/private.jwk (mode 600) and DIR/jwks.json')
    .action(async (dir: string) => {
      const { privateJwk, jwks } = await createIssuerKeys();
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'private.jwk'), JSON.stringify(privateJwk), { mode: 0o600 });
      writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks, null, 2));
      console.log(`issuer keys written to ${dir} (key id ${privateJwk.kid})`);
    });

  program
    .command('serve <dir>')
    .description('serve DIR/jwks.json over HTTP on 127.0.0.1 until interrupted')
    .option('--port <n>', 'TCP port; 0 picks a free one', (value) => Number.parseInt(value, 10), 0)
    .action(async (dir: string, opts: { port: number }) => {
      const { url } = await serveJwks(readKeys(dir).jwks, opts.port);
      console.log(url);
    });

  program
    .command('mint <dir>')
    .description('print a signed identity token')
    .requiredOption('--issuer <url>', 'the iss claim; must match a configured issuer')
    .requiredOption('--subject <name>', 'the sub claim')
    .option('--audience <aud>', 'the aud claim', 'jit-access')
    .option('--ttl <seconds>', 'lifetime in seconds', (value) => Number.parseInt(value, 10), 300)
    .option('--claim <key=value>', 'an extra claim, repeatable', (value: string, previous: Record<string, string>) => {
      const separator = value.indexOf('=');
      if (separator <= 0) throw new Error(`"${value}" is not KEY=VALUE`);
      return { ...previous, [value.slice(0, separator)]: value.slice(separator + 1) };
    }, {})
    .action(async (dir: string, opts: { issuer: string; subject: string; audience: string; ttl: number; claim: Record<string, string> }) => {
      const token = await mintToken(readKeys(dir).privateJwk, {
        issuer: opts.issuer,
        subject: opts.subject,
        audience: opts.audience,
        ttlSeconds: opts.ttl,
        claims: opts.claim,
      });
      console.log(token);
    });

  return program;
}

if (require.main === module) {
  buildCli()
    .parseAsync(process.argv)
    .catch((err: Error) => {
      console.error(`local-issuer: ${err.message}`);
      process.exit(1);
    });
}
