/**
 * A worker killed with SIGKILL while a grant is held loses nothing: the window's timer lives in Temporal, and a
 * new worker process on the same task queue revokes when the window ends.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';

import { TestWorkflowEnvironment } from '@temporalio/testing';

import { startAccessRequest, waitForDecision } from '../client/sdk';
import { statusQuery, type AccessRequestStatus } from '../workflows/definitions';
import type { WorkerSettings } from '../worker/settings';
import { startTestIssuer, type TestIssuer } from './helpers/issuer';
import { CHAOS_TRIALS, recordTrial } from './helpers/chaos';
import { connectTestEnvironment, eventually, liveDatabaseUsers, spawnWorkerProcess, workerSettings } from './helpers/stack';

let issuer: TestIssuer;
let settings: WorkerSettings;
let env: TestWorkflowEnvironment;
const children: ChildProcess[] = [];

async function spawnWorker(): Promise<ChildProcess> {
  const worker = await spawnWorkerProcess(settings);
  children.push(worker.child);
  return worker.child;
}

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

describe('worker crash during a grant', () => {
  it('a new worker revokes on time after SIGKILL', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const first = await spawnWorker();
      const handle = await startAccessRequest(
        env.client,
        {
          identityToken: await issuer.mint('agent:release-bot'),
          entitlement: 'orders-db-staging-auto',
          environment: 'staging',
          durationSeconds: 12,
          reason: 'verify the staging data after the deploy step',
          ticket: 'OPS-78',
        },
        { taskQueue: settings.JIT_TASK_QUEUE },
      );
      const granted = await waitForDecision(handle);
      assert.equal(granted.phase, 'granted');

      first.kill('SIGKILL');
      await once(first, 'exit');
      assert.equal(first.signalCode, 'SIGKILL');
      assert.ok((await liveDatabaseUsers()).includes(granted.grant!.username), 'the credential outlived its worker, as it should');

      await spawnWorker();
      const final = await eventually('the revocation by the new worker', 60_000, async () => {
        const status: AccessRequestStatus = await handle.query(statusQuery);
        return status.phase === 'revoked' ? status : undefined;
      });
      assert.equal(final.revocation!.cause, 'window-ended');
      assert.ok(final.revocation!.lagSeconds < 5, `revocation lag ${final.revocation!.lagSeconds}s`);
      assert.ok(!(await liveDatabaseUsers()).includes(granted.grant!.username));
      const trialRecord = await recordTrial('worker SIGKILL during the window', granted.grant!, final.revocation!);
      assert.equal(trialRecord.leaked, 0);

      // The next trial starts from no worker at all.
      for (const child of children.splice(0)) child.kill('SIGKILL');
    }
  });
});
