/**
 * The requester's view through the SDK: the unwrapped password logs in to PostgreSQL during the window, open
 * sessions end at revocation, and the same password fails afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { AccessRefusedError, requestAccess, unwrapCredential } from '../client/sdk';
import { statusQuery, type AccessRequestStatus } from '../workflows/definitions';
import { adminQuery, connectAs, eventually, liveDatabaseUsers, loadStackEnv, startHarness, type Harness } from './helpers/stack';

let harness: Harness;

before(async () => {
  harness = await startHarness();
});

after(async () => {
  await harness?.stop();
});

describe('end to end through Vault and PostgreSQL', () => {
  it('password works in the window and fails after', async () => {
    const vaultAddr = loadStackEnv().VAULT_ADDR!;
    const grant = await requestAccess(
      harness.env.client,
      {
        identityToken: await harness.issuer.mint('ci:deploy-pipeline'),
        entitlement: 'orders-db-staging-auto',
        environment: 'staging',
        durationSeconds: 6,
        reason: 'seed the staging orders table for the load test',
        ticket: 'OPS-77',
        task: { pipeline: 'load-test', run: '9' },
      },
      { taskQueue: harness.settings.JIT_TASK_QUEUE, vaultAddr },
    );
    const { username, password } = grant.credential!;
    assert.equal(username, grant.status.grant!.username);

    const session = await connectAs(username, password);
    const sessionErrors: Array<Error & { code?: string }> = [];
    session.on('error', (err) => sessionErrors.push(err));
    const written = await session.query('INSERT INTO deployments (release) VALUES ($1) RETURNING deployed_by', ['e2e']);
    assert.equal(written.rows[0].deployed_by, username);
    // A migration creates objects; revocation must still drop the user and hand the table to orders_owner.
    const table = `e2e_${Date.now()}`;
    await session.query(`CREATE TABLE ${table} (id int)`);

    // The wrapping token is single-use: a second unwrap must fail.
    await assert.rejects(unwrapCredential(vaultAddr, grant.status.grant!.wrappingToken), /unwrapping the credential .* failed/);

    const handle = harness.env.client.workflow.getHandle(grant.requestId);
    const final = await eventually('the revocation', 30_000, async () => {
      const status: AccessRequestStatus = await handle.query(statusQuery);
      return status.phase === 'revoked' ? status : undefined;
    });
    assert.ok(final.revocation!.lagSeconds < 5, `revocation lag ${final.revocation!.lagSeconds}s`);

    // Revocation ended the idle session: PostgreSQL sent it 57P01 (admin_shutdown).
    await eventually('the session to be ended', 5_000, async () => sessionErrors.find((err) => err.code === '57P01'));
    await assert.rejects(session.query('SELECT 1'));
    await session.end().catch(() => undefined);
    await assert.rejects(connectAs(username, password), /password authentication failed/);
    assert.ok(!(await liveDatabaseUsers()).includes(username));
    const owner = await adminQuery<{ tableowner: string }>('SELECT tableowner FROM pg_tables WHERE tablename = $1', [table]);
    assert.deepEqual(owner, [{ tableowner: 'orders_owner' }]);
  });

  it('refuses a request that policy denies, with the reason', async () => {
    await assert.rejects(
      requestAccess(
        harness.env.client,
        {
          identityToken: await harness.issuer.mint('ci:deploy-pipeline'),
          entitlement: 'orders-db-staging-auto',
          environment: 'staging',
          durationSeconds: 3600,
          reason: 'seed the staging orders table for the load test',
          ticket: 'OPS-77',
        },
        { taskQueue: harness.settings.JIT_TASK_QUEUE },
      ),
      (err: unknown) => {
        assert.ok(err instanceof AccessRefusedError);
        assert.equal(err.status.phase, 'denied');
        assert.match(err.message, /FAIL request\/duration-within-maximum: the requested duration must not exceed the entitlement's maximum/);
        return true;
      },
    );
  });

  it('rejects invalid input before starting anything', async () => {
    await assert.rejects(
      requestAccess(harness.env.client, {
        identityToken: await harness.issuer.mint('ci:deploy-pipeline'),
        entitlement: 'orders-db-staging-auto',
        environment: 'staging',
        durationSeconds: 60,
        reason: 'short',
        ticket: 'OPS-77',
      }),
      /invalid access request: reason: reason must say in at least 10 characters why access is needed/,
    );
  });
});
