/**
 * The reconciler catches what skips workflow code: a grant whose workflow is terminated never revokes itself,
 * and the reconciliation workflow finds its Vault role, revokes it and reports it. Grants of running
 * workflows are left alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startAccessRequest, waitForDecision } from '../client/sdk';
import { RECONCILE_WORKFLOW } from '../workflows/definitions';
import type { ReconciledGrant } from '../workflows/reconcile';
import { liveDatabaseLeases, liveDatabaseUsers, startHarness, type Harness } from './helpers/stack';

let harness: Harness;

before(async () => {
  harness = await startHarness({ JIT_RECONCILE_EVERY: '1h' });
});

after(async () => {
  await harness?.env.client.schedule.getHandle(`jit-reconcile-${harness.settings.JIT_TASK_QUEUE}`).delete().catch(() => undefined);
  await harness?.stop();
});

async function grant() {
  const handle = await startAccessRequest(
    harness.env.client,
    {
      identityToken: await harness.issuer.mint('ci:deploy-pipeline'),
      entitlement: 'orders-db-staging-auto',
      environment: 'staging',
      durationSeconds: 120,
      reason: 'a grant for the reconciler test',
      ticket: 'OPS-5',
    },
    { taskQueue: harness.settings.JIT_TASK_QUEUE },
  );
  const status = await waitForDecision(handle);
  assert.equal(status.phase, 'granted');
  return { handle, status };
}

describe('reconciler', () => {
  it('revokes the grant of a terminated workflow', async () => {
    const terminated = await grant();
    const running = await grant();
    await terminated.handle.terminate('test: skip the workflow revocation');

    const report = (await harness.env.client.workflow.execute(RECONCILE_WORKFLOW, {
      workflowId: `reconcile-${Date.now()}`,
      taskQueue: harness.settings.JIT_TASK_QUEUE,
    })) as ReconciledGrant[];

    const mine = report.find((entry) => entry.vaultRole === terminated.handle.workflowId);
    assert.ok(mine, `the report lists the terminated grant: ${JSON.stringify(report)}`);
    assert.equal(mine.liveLeases, 1);
    assert.deepEqual(mine.checks, ['Vault lease lookup: no live lease']);
    assert.ok(!report.some((entry) => entry.vaultRole === running.handle.workflowId), 'a running grant is not an orphan');

    const users = await liveDatabaseUsers();
    assert.ok(!users.includes(terminated.status.grant!.username), 'the terminated grant still has its database user');
    assert.ok(users.includes(running.status.grant!.username), 'the running grant lost its database user');
    assert.ok((await liveDatabaseLeases()).includes(running.status.grant!.leaseId));

    await running.handle.signal('release', { by: 'ci:deploy-pipeline' });
    await running.handle.result();
  });

  it('is scheduled when the worker starts', async () => {
    const description = await harness.env.client.schedule.getHandle(`jit-reconcile-${harness.settings.JIT_TASK_QUEUE}`).describe();
    assert.equal(description.action.type, 'startWorkflow');
    assert.equal(description.action.workflowType, RECONCILE_WORKFLOW);
  });
});
