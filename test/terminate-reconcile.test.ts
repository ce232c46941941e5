/**
 * An operator terminates a granted request with the Temporal CLI, so the workflow never runs its revocation.
 * The reconciler, on its Temporal schedule, finds the orphaned grant and revokes it. The lag is counted from
 * the termination to the moment the lease and the database user are gone.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { CHAOS_TRIALS, recordTrial } from './helpers/chaos';
import { eventually, liveDatabaseLeases, liveDatabaseUsers, stackTool, startHarness, startStagingGrant, type Harness } from './helpers/stack';

const run = promisify(execFile);
let harness: Harness;

before(async () => {
  harness = await startHarness({ JIT_RECONCILE_EVERY: '2s' });
});

after(async () => {
  await harness?.env.client.schedule.getHandle(`jit-reconcile-${harness.settings.JIT_TASK_QUEUE}`).delete().catch(() => undefined);
  await harness?.stop();
});

describe('workflow terminated from the CLI', () => {
  it('is revoked by the scheduled reconciler', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const { handle, granted } = await startStagingGrant(harness, 120, 'a grant an operator terminates');

      await run(stackTool('TEMPORAL_BIN'), [
        'workflow', 'terminate',
        '--address', harness.settings.TEMPORAL_ADDRESS,
        '--workflow-id', handle.workflowId,
        '--reason', 'chaos: terminated by an operator',
      ]);
      const terminatedAt = Date.now();
      assert.equal((await handle.describe()).status.name, 'TERMINATED');

      await eventually('the reconciler to revoke the orphaned grant', 60_000, async () => {
        const leaseLeft = (await liveDatabaseLeases()).includes(granted.grant!.leaseId);
        const userLeft = (await liveDatabaseUsers()).includes(granted.grant!.username);
        return leaseLeft || userLeft ? undefined : true;
      });
      const revokedAt = Date.now();
      const lagSeconds = (revokedAt - terminatedAt) / 1000;
      assert.ok(lagSeconds < 30, `the reconciler took ${lagSeconds}s`);

      const revocation = { revokedAt: new Date(revokedAt).toISOString(), lagSeconds, checks: [], cause: 'cancelled' as const };
      assert.equal((await recordTrial('workflow terminated; reconciler revokes', granted.grant!, revocation)).leaked, 0);
    }
  });
});
