/**
 * PostgreSQL refuses Vault's connection across the moment of revocation: the vault_admin user loses LOGIN and
 * its sessions are ended shortly before the window ends, and gets LOGIN back some seconds later. Revocation
 * keeps retrying and removes the user once PostgreSQL accepts Vault again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { statusQuery, type AccessRequestStatus } from '../workflows/definitions';
import { CHAOS_TRIALS, recordTrial } from './helpers/chaos';
import { eventually, letVaultIn, lockOutVault, liveDatabaseUsers, startHarness, startStagingGrant, type Harness } from './helpers/stack';

const LOCKOUT_MS = 8_000;
let harness: Harness;

before(async () => {
  harness = await startHarness();
});

after(async () => {
  // Never leave Vault locked out for the tests that follow.
  await letVaultIn();
  await harness?.stop();
});

describe('PostgreSQL refusing revocation', () => {
  it('revokes once PostgreSQL accepts Vault again', async () => {
    for (let trial = 1; trial <= CHAOS_TRIALS; trial += 1) {
      const { handle, granted } = await startStagingGrant(harness, 6, 'hold a grant while PostgreSQL refuses Vault');

      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(granted.grant!.expiresAt) - Date.now() - 2_000)));
      await lockOutVault();
      await new Promise((resolve) => setTimeout(resolve, LOCKOUT_MS));
      assert.equal((await handle.query(statusQuery)).phase, 'revoking', 'revocation must wait for PostgreSQL, not give up');
      assert.ok((await liveDatabaseUsers()).includes(granted.grant!.username), 'the user cannot be dropped while Vault is refused');
      await letVaultIn();
      const acceptedAt = Date.now();

      const final = await eventually('the revocation after PostgreSQL accepts Vault', 60_000, async () => {
        const current: AccessRequestStatus = await handle.query(statusQuery);
        return current.phase === 'revoked' ? current : undefined;
      });
      assert.ok(Date.parse(final.revocation!.revokedAt) >= acceptedAt - 1_000, 'revoked only after PostgreSQL accepted Vault');
      assert.ok(!(await liveDatabaseUsers()).includes(granted.grant!.username));
      const trialRecord = await recordTrial('PostgreSQL refusing Vault across revocation', granted.grant!, final.revocation!);
      assert.equal(trialRecord.leaked, 0);
    }
  });
});
