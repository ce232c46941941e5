/**
 * A retry of issuance finds what an earlier attempt created: when a worker crashes after Vault responded but
 * before the activity completed, the next attempt revokes every lease under the grant's role before issuing.
 * The Vault gateway the activity uses runs here against real Vault and PostgreSQL. A second revoke shows that
 * revocation is idempotent. The lease tests show that a lease Vault capped is reported with its real end, and
 * that no renewal reaches past the window.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';

import { noopMetricMeter, type MetricMeter, type MetricTags } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import nodeVault from 'node-vault';

import { createActivities } from '../activities';
import { VaultGateway } from '../activities/vault';
import { startFakeSlack } from './helpers/fake-slack';
import { liveDatabaseUsers, loadStackEnv } from './helpers/stack';

describe('issuance retry', () => {
  it('revokes the lease of a crashed attempt', async () => {
    const env = loadStackEnv();
    const vault = new VaultGateway({ endpoint: env.VAULT_ADDR!, token: env.VAULT_TOKEN! });
    const vaultRole = `jit-retry-${randomBytes(4).toString('hex')}`;
    const input = { requestId: vaultRole, vault: { mount: 'database', templateRole: 'orders-readwrite' }, vaultRole, ttlSeconds: 60 };

    // The first attempt issues, then its result is lost as if the worker died before reporting it.
    const lost = await vault.issue({ ...input, attempt: 1 });
    assert.deepEqual(await vault.liveLeases({ mount: 'database', vaultRole }), [lost.leaseId]);

    const retried = await vault.issue({ ...input, attempt: 2 });
    assert.notEqual(retried.leaseId, lost.leaseId);
    assert.deepEqual(await vault.liveLeases({ mount: 'database', vaultRole }), [retried.leaseId], 'only the retry may hold a lease');
    const users = await liveDatabaseUsers();
    assert.ok(!users.includes(lost.username), 'the lost attempt left its database user');
    assert.ok(users.includes(retried.username));

    await vault.revoke({ mount: 'database', vaultRole });
    assert.deepEqual(await vault.liveLeases({ mount: 'database', vaultRole }), []);
    await vault.revoke({ mount: 'database', vaultRole });
    assert.ok(!(await liveDatabaseUsers()).includes(retried.username));
  });
});

describe('revocation failures', () => {
  it('logs, counts and posts a late revocation', async () => {
    const env = loadStackEnv();
    const slack = await startFakeSlack('xoxb-late');
    const activities = createActivities({
      policy: undefined as never,
      vault: { endpoint: env.VAULT_ADDR!, token: env.VAULT_TOKEN! },
      slack: { botToken: 'xoxb-late', apiUrl: slack.apiUrl },
    });
    const counted: Array<{ name: string; value: number; tags?: MetricTags }> = [];
    const metricMeter: MetricMeter = {
      createCounter: (name: string) => {
        const counter = noopMetricMeter.createCounter(name);
        return { name, unit: counter.unit, description: counter.description, kind: 'counter', valueType: 'int', withTags: () => counter, add: (value: number, tags?: MetricTags) => void counted.push({ name, value, tags }) };
      },
      createHistogram: (...args) => noopMetricMeter.createHistogram(...args),
      createGauge: (...args) => noopMetricMeter.createGauge(...args),
      withTags: () => metricMeter,
    };
    const entries: Array<{ level: string; message: string; meta?: Record<string, unknown> }> = [];
    const log = (level: string, message: string, meta?: Record<string, unknown>) => entries.push({ level, message, meta });
    const at = (level: string) => (message: string, meta?: Record<string, unknown>) => log(level, message, meta);
    const testLogger = { log, trace: at('TRACE'), debug: at('DEBUG'), info: at('INFO'), warn: at('WARN'), error: at('ERROR') };

    // The worker's token may not revoke outside database/creds/jit-*, so Vault rejects this revocation.
    const input = { mount: 'not-a-mount', vaultRole: 'jit-late-revocation', slackMessage: { channel: 'C0LATE', ts: '1796400000.000042' } };
    for (const attempt of [1, 5, 6]) {
      await assert.rejects(
        new MockActivityEnvironment({ attempt }, { logger: testLogger, metricMeter }).run(activities.revokeCredential, input),
        /Vault write sys\/leases\/revoke-prefix\/not-a-mount\/creds\/jit-late-revocation failed with HTTP 403/,
      );
    }
    const failures = entries.filter((entry) => entry.meta?.vaultRole === 'jit-late-revocation');
    assert.deepEqual(failures.map((entry) => [entry.level, entry.message, entry.meta?.attempt]), [
      ['WARN', 'revocation attempt failed, retrying', 1],
      ['ERROR', 'revocation late: still failing, retrying', 5],
      ['ERROR', 'revocation late: still failing, retrying', 6],
    ]);
    assert.ok(!JSON.stringify(failures).includes(env.VAULT_TOKEN!), 'the log must not contain the Vault token');

    // The fifth attempt, and only that one, counts the metric and posts in the request's thread.
    assert.deepEqual(counted.map(({ name, value }) => [name, value]), [['jit_revocation_late', 1]]);
    assert.equal(counted[0]!.tags?.mount, 'not-a-mount');
    const notices = slack.callsOf('chat.postMessage');
    assert.equal(notices.length, 1);
    assert.equal(notices[0]!.args.channel, 'C0LATE');
    assert.equal(notices[0]!.args.thread_ts, '1796400000.000042');
    assert.match(String(notices[0]!.args.text), /^:rotating_light: Revocation late: attempt 5 failed \(Vault write .* failed with HTTP 403/);
    assert.ok(!String(notices[0]!.args.text).includes(env.VAULT_TOKEN!), 'the notice must not contain the Vault token');
    await slack.close();
  });
});

describe('lease limits', () => {
  const env = () => loadStackEnv();
  const root = () => nodeVault({ endpoint: env().VAULT_ADDR!, token: env().JIT_VAULT_ROOT_TOKEN!, requestOptions: { timeout: 10_000 } });

  it('reports the end of a lease Vault capped', async () => {
    const vault = new VaultGateway({ endpoint: env().VAULT_ADDR!, token: env().VAULT_TOKEN! });
    const vaultRole = `jit-capped-${randomBytes(4).toString('hex')}`;
    // The mount's maximum lease TTL is lower than the approved window, so Vault issues a shorter lease.
    await root().write('sys/mounts/database/tune', { max_lease_ttl: '5s' });
    try {
      const grant = await vault.issue({ requestId: vaultRole, vault: { mount: 'database', templateRole: 'orders-readwrite' }, vaultRole, ttlSeconds: 60, attempt: 1 });
      const reported = (Date.parse(grant.expiresAt) - Date.parse(grant.issuedAt)) / 1000;
      assert.ok(reported <= 5, `the grant reports ${reported}s, not Vault's 5 s`);
      const lookup = await root().write('sys/leases/lookup', { lease_id: grant.leaseId });
      assert.ok(Math.abs(Date.parse(lookup.data.expire_time) - Date.parse(grant.expiresAt)) < 2_000, 'the reported end is Vault\'s');
    } finally {
      await root().write('sys/mounts/database/tune', { max_lease_ttl: '0' });
      await vault.revoke({ mount: 'database', vaultRole });
    }
  });

  it('cannot renew a lease past the window', async () => {
    const vault = new VaultGateway({ endpoint: env().VAULT_ADDR!, token: env().VAULT_TOKEN! });
    const vaultRole = `jit-renew-${randomBytes(4).toString('hex')}`;
    const grant = await vault.issue({ requestId: vaultRole, vault: { mount: 'database', templateRole: 'orders-readwrite' }, vaultRole, ttlSeconds: 30, attempt: 1 });
    try {
      // Even a root token asking for an hour gets no more than what is left of the 30 s window.
      const renewed = await root().write('sys/leases/renew', { lease_id: grant.leaseId, increment: 3600 });
      const renewedEnd = Date.now() + renewed.lease_duration * 1000;
      assert.ok(renewed.lease_duration <= 30, `renewed for ${renewed.lease_duration}s`);
      assert.ok(renewedEnd <= Date.parse(grant.expiresAt) + 2_000, 'the renewal reaches past the window');
    } finally {
      await vault.revoke({ mount: 'database', vaultRole });
    }
  });
});
