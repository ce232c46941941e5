/**
 * The main job, end to end against the running local stack. A deploy pipeline, proven by a token from the
 * local OIDC issuer, requests read-write access to the production orders database. Policy first denies it
 * because no change window is open; an operator opens one, the request is allowed and an approver approves.
 * The credential Vault issues logs in and writes a row. When the window ends, the credential is revoked and
 * the same login fails.
 *
 * Run through `npm run demo`, which starts the stack first. Exits non-zero if any step does not behave as shown.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Client, Connection } from '@temporalio/client';
import type { JWK } from 'jose';
import { Client as PgClient } from 'pg';

import { jitDataConverter } from '../client/codec';
import { formatStatus } from '../client/format';
import { AccessRefusedError, requestAccess } from '../client/sdk';
import type { AccessRequestInput } from '../workflows/request';
import { mintToken } from './local-issuer';
import { castVote } from '../client/votes';
import { statusQuery, type AccessRequestStatus } from '../workflows/definitions';

const WINDOW_SECONDS = Number(process.env.DEMO_WINDOW_SECONDS ?? 20);

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set; run the demo through "npm run demo", which starts the stack`);
  return value;
}

function say(message: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${message}`);
}

async function login(username: string, password: string): Promise<PgClient> {
  const url = new URL(requireEnv('JIT_DATABASE_URL_TEMPLATE').replace('USER', 'user').replace('PASSWORD', 'password'));
  const db = new PgClient({
    host: url.hostname,
    port: Number(url.port),
    database: url.pathname.slice(1),
    user: username,
    password,
    connectionTimeoutMillis: 5_000,
  });
  await db.connect();
  return db;
}

/**
 * Writes the stack's policy settings with the change window closed (undefined) or open from one minute before
 * `from` for 30 minutes, clipped to the day. Returns the window as text.
 */
function setChangeWindow(from: Date | undefined): string {
  const path = requireEnv('JIT_POLICY_SETTINGS');
  if (!from) {
    writeFileSync(path, JSON.stringify({ timeZone: 'UTC', changeWindows: [] }, null, 2));
    return 'closed';
  }
  const minutes = from.getUTCHours() * 60 + from.getUTCMinutes();
  const clock = (total: number) => `${String(Math.floor(total / 60)).padStart(2, '0')}:${String(total % 60).padStart(2, '0')}`;
  const start = clock(Math.max(0, minutes - 1));
  const end = clock(Math.min(24 * 60, minutes + 30));
  const day = from.toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' });
  writeFileSync(path, JSON.stringify({ timeZone: 'UTC', changeWindows: [{ name: 'CHG-1042', days: [day], start, end }] }, null, 2));
  return `${start}-${end} UTC`;
}

async function main(): Promise<void> {
  const temporalAddress = requireEnv('TEMPORAL_ADDRESS');
  const ui = requireEnv('TEMPORAL_UI');
  const vaultAddr = requireEnv('VAULT_ADDR');
  const client = new Client({ connection: await Connection.connect({ address: temporalAddress }), dataConverter: jitDataConverter() });

  // The pipeline's identity: a token from the local issuer, as GitHub Actions would mint it for the job.
  const privateJwk = JSON.parse(readFileSync(join(requireEnv('JIT_ISSUER_KEYS'), 'private.jwk'), 'utf8')) as JWK;
  const identityToken = await mintToken(privateJwk, {
    issuer: `${requireEnv('JIT_ISSUER_URL')}/ci`,
    subject: 'acme/orders-deploy',
    claims: { repository: 'acme/orders', workflow: 'deploy', release_approved: true },
  });
  const request: AccessRequestInput = {
    identityToken,
    entitlement: 'orders-db-readwrite',
    environment: 'production',
    sourceIp: '10.20.4.7',
    durationSeconds: WINDOW_SECONDS,
    reason: 'apply the schema migration of release 4.2.0',
    ticket: 'CHG-1042',
    task: { pipeline: 'orders-deploy', run: '1042', commit: '9f2c1e7' },
  };
  say('the pipeline runs on CI runner 10.20.4.7 with a verified token for acme/orders-deploy (release_approved = true)');

  // No change window is open yet, so policy denies the request and gives the reason.
  setChangeWindow(undefined);
  say(`deploy pipeline requests orders-db-readwrite in production for ${WINDOW_SECONDS}s (ticket CHG-1042), no change window open`);
  try {
    await requestAccess(client, request);
    throw new Error('the request was allowed although no change window was open');
  } catch (err) {
    if (!(err instanceof AccessRefusedError)) throw err;
    say(`DENIED by policy, as expected: ${err.status.outcome}`);
  }

  const window = setChangeWindow(new Date());
  say(`an operator opens change window "CHG-1042" today ${window}; the worker reloads the policy settings`);
  await new Promise((resolve) => setTimeout(resolve, 1500));

  const approver = 'user:alice';
  const pending = requestAccess(client, request, {
    vaultAddr,
    onPhase: async (status) => {
      if (status.phase === 'pending-approval') {
        say(`run: ${ui}/namespaces/default/workflows/${status.requestId}`);
        for (const reason of status.decisions[0]?.reasons ?? []) say(`  policy: ${reason}`);
        say(`waiting for approval; ${approver} approves with a token from the issuer (same as: npx jit approve ${status.requestId} --token-file <alice's token>)`);
        const approverToken = await mintToken(privateJwk, { issuer: `${requireEnv('JIT_ISSUER_URL')}/user`, subject: approver.slice('user:'.length) });
        const answer = await castVote(client, status.requestId, { decision: 'approve', identityToken: approverToken, reason: 'migration reviewed', via: 'cli' });
        if (!answer.accepted || !answer.counted) throw new Error(`the approval did not count: ${JSON.stringify(answer)}`);
        say(`approval by ${answer.approver} counted (${answer.approvals} of ${answer.quorum}); policy allowed ${answer.approver} to approve at the moment of the vote`);
      } else {
        say(`request is ${status.phase}`);
      }
    },
  });
  const grant = await pending;
  const { username, password } = grant.credential!;
  say(`GRANTED: database user ${username}, lease ${grant.status.grant!.leaseId}, until ${grant.expiresAt}`);

  const db = await login(username, password);
  const inserted = await db.query<{ id: string; deployed_by: string }>(
    'INSERT INTO deployments (release) VALUES ($1) RETURNING id, deployed_by',
    ['4.2.0'],
  );
  say(`LOGIN OK: wrote deployments row ${inserted.rows[0]!.id} as ${inserted.rows[0]!.deployed_by}`);
  await db.end();

  say(`holding the credential until the window ends at ${grant.expiresAt}`);
  const handle = client.workflow.getHandle(grant.requestId);
  let status: AccessRequestStatus = await handle.query(statusQuery);
  while (status.phase !== 'revoked' && status.phase !== 'failed') {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    status = await handle.query(statusQuery);
  }
  if (status.phase !== 'revoked') throw new Error(`expected the grant to be revoked, but it is ${status.phase}`);
  say(`REVOKED at ${status.revocation!.revokedAt}, ${status.revocation!.lagSeconds.toFixed(1)}s after the window ended`);
  for (const check of status.revocation!.checks) say(`  verified: ${check}`);

  try {
    const again = await login(username, password);
    await again.end();
    throw new Error(`login as ${username} still works after revocation`);
  } catch (err) {
    const message = (err as Error).message;
    if (message.includes('still works')) throw err;
    say(`LOGIN FAILED as expected: ${message}`);
  }

  console.log(`\n${formatStatus(status)}\n\nThe run in the Temporal UI, while the stack runs: ${ui}/namespaces/default/workflows/${grant.requestId}`);
  await client.connection.close();
}

main().catch((err: Error) => {
  console.error(`demo failed: ${err.message}`);
  process.exit(1);
});
