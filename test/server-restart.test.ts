/**
 * The Temporal server restarts on its SQLite file while a grant is held: the workflow, its window timer and
 * the credential survive, and revocation still happens when the window ends.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { statusQuery, type AccessRequestStatus } from '../workflows/definitions';
import { CHAOS_TRIALS, recordTrial } from './helpers/chaos';
import { eventually, liveDatabaseUsers, ROOT, startHarness, startStagingGrant, type Harness } from './helpers/stack';

let harness: Harness;
const stateDir = process.env.JIT_STATE_DIR ?? join(ROOT, '.jit', 'test-stack');

before(async () => {
  harness = await startHarness();
});

after(async () => {
  await harness?.stop();
});

describe('Temporal server restart', () => {
  it('keeps the grant and revokes on time', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const { handle, granted } = await startStagingGrant(harness, 20, 'hold a grant across a server restart');

      // Stop the dev server the way a crash would, then start it again on the same database file.
      const pid = Number(readFileSync(join(stateDir, 'temporal.pid'), 'utf8'));
      process.kill(pid, 'SIGKILL');
      await eventually('the server to exit', 10_000, async () => {
        try {
          process.kill(pid, 0);
          return undefined;
        } catch {
          return true;
        }
      });
      execFileSync('bash', [join(ROOT, 'scripts', 'stack.sh'), 'start', '--no-worker'], {
        env: { ...process.env, JIT_STATE_DIR: stateDir },
        stdio: 'ignore',
      });

      const final = await eventually('the revocation after the restart', 90_000, async () => {
        const status: AccessRequestStatus | undefined = await handle.query(statusQuery).catch(() => undefined);
        return status?.phase === 'revoked' ? status : undefined;
      });
      assert.equal(final.grant!.leaseId, granted.grant!.leaseId, 'the same grant, not a new one');
      assert.ok(final.revocation!.lagSeconds < 10, `revocation lag ${final.revocation!.lagSeconds}s`);
      assert.ok(!(await liveDatabaseUsers()).includes(granted.grant!.username));
      const trialRecord = await recordTrial('Temporal server restart during the window', granted.grant!, final.revocation!);
      assert.equal(trialRecord.leaked, 0);
    }
  });
});
