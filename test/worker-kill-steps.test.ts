/**
 * A worker killed with SIGKILL at each step of the lifecycle: after the policy decision, while the request waits
 * for approval, inside issuance after Vault issued, and inside revocation after Vault revoked. A new worker
 * process takes over each time. Afterwards no credential is alive, and none was issued twice without the
 * extra one being revoked. The kill during the window is in worker-crash.test.ts.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';

import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';

import type { CrashPoint } from '../activities/crash-points';
import { startAccessRequest, waitForDecision } from '../client/sdk';
import { castVote } from '../client/votes';
import { grantRoleName, releaseSignal, statusQuery, type AccessRequestStatus } from '../workflows/definitions';
import type { AccessRequestInput } from '../workflows/request';
import type { WorkerSettings } from '../worker/settings';
import { CHAOS_TRIALS, recordTrial } from './helpers/chaos';
import { startTestIssuer, type TestIssuer } from './helpers/issuer';
import { connectTestEnvironment, eventually, liveDatabaseLeases, spawnWorkerProcess, workerSettings } from './helpers/stack';

let issuer: TestIssuer;
let settings: WorkerSettings;
let env: TestWorkflowEnvironment;
const children: ChildProcess[] = [];

before(async () => {
  issuer = await startTestIssuer();
  settings = workerSettings(issuer);
  env = await connectTestEnvironment(settings);
});

after(async () => {
  for (const child of children) child.kill('SIGKILL');
  await env?.teardown();
  issuer?.close();
});

/** Starts a worker process; with `killAt`, it kills itself when it reaches that crash point. */
async function spawnWorker(killAt?: CrashPoint): Promise<ChildProcess> {
  const worker = await spawnWorkerProcess(settings, 'info', killAt ? { JIT_CHAOS_KILL_AT: killAt } : {});
  children.push(worker.child);
  return worker.child;
}

async function died(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  assert.equal(child.signalCode, 'SIGKILL');
}

async function start(change: Partial<AccessRequestInput>): Promise<WorkflowHandle> {
  return startAccessRequest(
    env.client,
    {
      identityToken: await issuer.mint('ci:deploy-pipeline'),
      entitlement: 'orders-db-readwrite',
      environment: 'production',
      durationSeconds: 60,
      reason: 'apply the schema migration of release 4.4.0',
      ticket: 'CHG-4404',
      ...change,
    },
    { taskQueue: settings.JIT_TASK_QUEUE },
  );
}

async function phase(handle: WorkflowHandle, expected: AccessRequestStatus['phase'], timeoutMs = 60_000): Promise<AccessRequestStatus> {
  return eventually(`${handle.workflowId} to be ${expected}`, timeoutMs, async () => {
    const status: AccessRequestStatus = await handle.query(statusQuery);
    return status.phase === expected ? status : undefined;
  });
}

async function approve(handle: WorkflowHandle): Promise<void> {
  const answer = await castVote(env.client, handle.workflowId, { decision: 'approve', identityToken: await issuer.mint('user:alice'), via: 'cli' });
  assert.equal(answer.accepted && answer.counted, true, JSON.stringify(answer));
}

/** Releases the grant, waits for the verified revocation and checks that the grant's role holds no lease. */
async function releaseAndVerify(handle: WorkflowHandle): Promise<AccessRequestStatus> {
  await handle.signal(releaseSignal, { by: 'ci:deploy-pipeline' });
  const final = await phase(handle, 'revoked');
  assert.deepEqual(await leasesOf(handle.workflowId), []);
  return final;
}

async function leasesOf(requestId: string): Promise<string[]> {
  const prefix = `database/creds/${grantRoleName(requestId)}/`;
  return (await liveDatabaseLeases()).filter((leaseId) => leaseId.startsWith(prefix));
}

/** Kills whatever workers are left, so the next trial starts from none. */
function killAll(): void {
  for (const child of children.splice(0)) child.kill('SIGKILL');
}

describe('worker SIGKILL at each lifecycle step', () => {
  it('loses nothing when killed after the policy decision', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const first = await spawnWorker('after-policy');
      const handle = await start({});
      await died(first);
      await spawnWorker();

      const pending = await phase(handle, 'pending-approval');
      assert.equal(pending.decisions.length, 1, 'the retried decision is recorded once');
      await approve(handle);
      const granted = await waitForDecision(handle);
      assert.equal(granted.phase, 'granted');
      const final = await releaseAndVerify(handle);
      assert.equal((await recordTrial('worker SIGKILL after policy', granted.grant!, final.revocation!)).leaked, 0);
      killAll();
    }
  });

  it('keeps a waiting request across a kill', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const first = await spawnWorker();
      const handle = await start({});
      await phase(handle, 'pending-approval');
      first.kill('SIGKILL');
      await died(first);
      await spawnWorker();

      await approve(handle);
      const granted = await waitForDecision(handle);
      assert.equal(granted.phase, 'granted');
      const final = await releaseAndVerify(handle);
      assert.equal((await recordTrial('worker SIGKILL while waiting for approval', granted.grant!, final.revocation!)).leaked, 0);
      killAll();
    }
  });

  it('revokes the lost credential of a kill inside issuance', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const first = await spawnWorker('after-vault-issue');
      const handle = await start({ entitlement: 'orders-db-staging-auto', environment: 'staging', durationSeconds: 120 });
      await died(first);

      // Vault issued a credential that no workflow has recorded yet.
      const lost = await leasesOf(handle.workflowId);
      assert.equal(lost.length, 1, 'the killed attempt left its lease');
      await spawnWorker();

      const granted = await waitForDecision(handle);
      assert.equal(granted.phase, 'granted');
      assert.deepEqual(await leasesOf(handle.workflowId), [granted.grant!.leaseId], 'only the recorded credential is alive');
      assert.notEqual(granted.grant!.leaseId, lost[0]);
      const final = await releaseAndVerify(handle);
      assert.equal((await recordTrial('worker SIGKILL inside issuance', granted.grant!, final.revocation!, lost)).leaked, 0);
      killAll();
    }
  });

  it('finishes a revocation whose worker died inside it', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const first = await spawnWorker('after-vault-revoke');
      const handle = await start({ entitlement: 'orders-db-staging-auto', environment: 'staging', durationSeconds: 4 });
      const granted = await waitForDecision(handle);
      assert.equal(granted.phase, 'granted');
      await died(first);
      await spawnWorker();

      const final = await phase(handle, 'revoked');
      assert.deepEqual(await leasesOf(handle.workflowId), []);
      // Temporal retries the attempt of a dead worker once its 3 s heartbeat timeout passes.
      assert.ok(final.revocation!.lagSeconds < 10, `revocation lag ${final.revocation!.lagSeconds}s`);
      assert.equal((await recordTrial('worker SIGKILL inside revocation', granted.grant!, final.revocation!)).leaked, 0);
      killAll();
    }
  });
});
