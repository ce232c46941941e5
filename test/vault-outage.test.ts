/**
 * Vault is unreachable across the moment of revocation: its process is paused (SIGSTOP) shortly before the
 * window ends and resumed some seconds later. Revocation keeps retrying and completes once Vault is back.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { statusQuery, type AccessRequestStatus } from '../workflows/definitions';
import { CHAOS_TRIALS, recordTrial } from './helpers/chaos';
import { eventually, liveDatabaseUsers, ROOT, startHarness, startStagingGrant, type Harness } from './helpers/stack';

const OUTAGE_MS = 8_000;
let harness: Harness;
let vaultPid: number | undefined;

before(async () => {
  harness = await startHarness();
  const stateDir = process.env.JIT_STATE_DIR ?? join(ROOT, '.jit', 'test-stack');
  vaultPid = Number(readFileSync(join(stateDir, 'vault.pid'), 'utf8'));
});

after(async () => {
  // Never leave Vault paused for the tests that follow.
  if (vaultPid) process.kill(vaultPid, 'SIGCONT');
  await harness?.stop();
});

describe('Vault outage at revocation', () => {
  it('revokes once Vault is back', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const { handle, granted } = await startStagingGrant(harness, 6, 'hold a grant across a Vault outage');

      const windowEnd = Date.parse(granted.grant!.expiresAt);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, windowEnd - Date.now() - 2_000)));
      process.kill(vaultPid!, 'SIGSTOP');
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
      const status = await handle.query(statusQuery);
      assert.equal(status.phase, 'revoking', 'revocation must wait for Vault, not give up');
      process.kill(vaultPid!, 'SIGCONT');
      const resumedAt = Date.now();

      const final = await eventually('the revocation after the outage', 60_000, async () => {
        const current: AccessRequestStatus = await handle.query(statusQuery);
        return current.phase === 'revoked' ? current : undefined;
      });
      assert.equal(final.revocation!.cause, 'window-ended');
      assert.ok(Date.parse(final.revocation!.revokedAt) >= resumedAt - 1_000, 'revoked only after Vault came back');
      assert.ok(Date.parse(final.revocation!.revokedAt) - resumedAt < 20_000, 'revoked soon after Vault came back');
      assert.ok(!(await liveDatabaseUsers()).includes(granted.grant!.username));
      const trialRecord = await recordTrial('Vault paused across revocation', granted.grant!, final.revocation!);
      assert.equal(trialRecord.leaked, 0);
    }
  });
});
