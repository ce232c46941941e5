/**
 * A retry of issuance finds what an earlier attempt created: when a worker crashes after Vault responded but
 * before the activity completed, the next attempt revokes every lease under the grant's role before issuing.
 * The Vault gateway the activity uses runs here against real Vault and PostgreSQL. A second revoke shows that
 * revocation is idempotent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';

import { noopMetricMeter, type MetricMeter, type MetricTags } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';

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
