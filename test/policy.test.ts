import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { loadCatalog } from '../activities/catalog';
import { loadPolicyBundle } from '../activities/cedar';
import type { VerifiedIdentity } from '../activities/identity';
import { evaluate, judgeApprover, type PolicySources } from '../activities/policy';
import { loadPolicySettings, timeContext } from '../activities/policy-settings';
import { ApproverDirectory } from '../activities/directory';
import { PolicyStore } from '../activities/policy-store';
import { parseAccessRequest } from '../workflows/request';
import { ROOT } from './helpers/stack';

const CONFIG = join(ROOT, 'config');
const sources: PolicySources = {
  catalog: loadCatalog(join(CONFIG, 'entitlements.json')),
  bundle: loadPolicyBundle(join(CONFIG, 'policies')),
  settings: loadPolicySettings(join(CONFIG, 'policy-settings.json')),
  directory: ApproverDirectory.fromFile(join(CONFIG, 'approvers.json')),
};
// A Tuesday at 10:00 UTC, inside the example "weekday deploys" change window.
const inWindow = new Date('2026-12-01T10:00:00Z');
const pipeline: VerifiedIdentity = {
  principal: 'ci:acme/orders',
  issuer: 'https://ci.example.test',
  subject: 'repo:acme/orders:ref:refs/heads/main',
  claims: { repository: 'acme/orders', release_approved: true },
  groups: [],
};
const request = parseAccessRequest({
  identityToken: 'e30.e30.',
  entitlement: 'orders-db-readwrite',
  environment: 'production',
  sourceIp: '10.20.4.7',
  durationSeconds: 600,
  reason: 'apply the schema migration of release 4.2.0',
  ticket: 'CHG-1042',
});

function writeFile(name: string, content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'jit-policy-')), name);
  writeFileSync(path, content);
  return path;
}

describe('policy decision', () => {
  it('allows the deploy pipeline with every reason', () => {
    const decision = evaluate(sources, request, pipeline, 'request', inWindow);
    assert.equal(decision.allow, true, decision.reasons.join('\n'));
    assert.equal(decision.principal, 'ci:acme/orders');
    assert.match(decision.policyVersion, /^policies sha256:[0-9a-f]{16}, catalog sha256:[0-9a-f]{16}$/);
    assert.deepEqual(decision.reasons, [
      'PASS identity: ci:acme/orders, verified by https://ci.example.test',
      'INFO time: Tuesday 10h UTC, change window "weekday deploys" open',
      'PASS request/deploy-may-request-orders-write: deploy pipelines may request write access to the production orders database',
      'INFO approval: 1 of user:alice, user:bob (escalation after 600s: user:carol) within 900s',
    ]);
    assert.deepEqual(decision.approval, {
      autoApprove: false,
      approvers: ['user:alice', 'user:bob', 'user:carol'],
      quorum: 1,
      deadlineSeconds: 900,
      groups: ['db-owners'],
      reminderAfterSeconds: 300,
      escalation: { afterSeconds: 600, groups: ['dba-leads'] },
      escalationApprovers: ['user:carol'],
      slackChannel: 'C0DBACCESS',
    });
    assert.deepEqual(decision.vault, { mount: 'database', templateRole: 'orders-readwrite' });
  });

  it('denies outside the change window, naming it', () => {
    const sunday = new Date('2026-12-06T10:00:00Z');
    const decision = evaluate(sources, request, pipeline, 'issue', sunday);
    assert.equal(decision.allow, false);
    assert.ok(decision.reasons.includes('INFO time: Sunday 10h UTC, no change window open'));
    assert.ok(decision.reasons.some((reason) => reason.startsWith('FAIL request/deploy-in-change-window:')));
  });

  it('denies without a reported source address', () => {
    const { sourceIp: _sourceIp, ...withoutAddress } = request;
    const decision = evaluate(sources, withoutAddress, pipeline, 'request', inWindow);
    assert.equal(decision.allow, false);
    assert.ok(decision.reasons.includes('INFO source address: not reported, so it matches no network'));
    assert.ok(decision.reasons.some((reason) => reason.startsWith('FAIL request/deploy-from-ci-network:')));
  });

  it('denies when the token lacks the release claim', () => {
    const decision = evaluate(sources, request, { ...pipeline, claims: { repository: 'acme/orders' } }, 'request', inWindow);
    assert.ok(decision.reasons.some((reason) => reason.startsWith('FAIL request/deploy-needs-approved-release:')));
  });

  it('denies an unknown entitlement and lists the known ones', () => {
    const decision = evaluate(sources, { ...request, entitlement: 'payroll-admin' }, pipeline, 'request', inWindow);
    assert.equal(decision.allow, false);
    assert.equal(decision.reasons[1], 'FAIL entitlement exists: payroll-admin is not in the catalog (known: orders-db-readwrite, orders-db-admin)');
  });

  it('does not treat prototype keys as entitlements', () => {
    assert.equal(evaluate(sources, { ...request, entitlement: 'constructor' }, pipeline, 'request', inWindow).allow, false);
  });

  it('lets an on-call person elevate and leaves them out of the approvers', () => {
    const alice: VerifiedIdentity = { principal: 'user:alice', issuer: 'https://sso.example.test', subject: 'alice', claims: {}, groups: ['oncall'] };
    const decision = evaluate(sources, { ...request, entitlement: 'orders-db-admin', ticket: 'INC-311' }, alice, 'request', inWindow);
    assert.equal(decision.allow, true, decision.reasons.join('\n'));
    assert.deepEqual(decision.approval?.approvers, ['user:bob', 'user:carol']);
  });

  it('denies a person outside the on-call group', () => {
    const mallory: VerifiedIdentity = { principal: 'user:mallory', issuer: 'https://sso.example.test', subject: 'mallory', claims: {}, groups: ['finance'] };
    const decision = evaluate(sources, { ...request, entitlement: 'orders-db-admin', ticket: 'INC-311' }, mallory, 'request', inWindow);
    assert.equal(decision.allow, false);
    assert.match(decision.reasons.at(-1)!, /FAIL request\/no policy permits Jit::Person::"user:mallory"/);
  });

  it('denies when too few approvers remain besides the requester', () => {
    const catalog = loadCatalog(
      writeFile(
        'catalog.json',
        JSON.stringify({
          entitlements: {
            'orders-db-admin': {
              description: 'one approver, who is also the requester',
              environment: 'production',
              maxDurationSeconds: 3600,
              vault: { backend: 'database', mount: 'database', templateRole: 'orders-readwrite' },
              approval: { groups: ['oncall'], quorum: 1, deadlineSeconds: 60 },
            },
          },
        }),
      ),
    );
    const directory = ApproverDirectory.of({ 'user:alice': { groups: ['oncall'] } });
    const alice: VerifiedIdentity = { principal: 'user:alice', issuer: 'https://sso.example.test', subject: 'alice', claims: {}, groups: ['oncall'] };
    const decision = evaluate({ ...sources, catalog, directory }, { ...request, entitlement: 'orders-db-admin', ticket: 'INC-1' }, alice, 'request', inWindow);
    assert.equal(decision.allow, false);
    assert.equal(
      decision.reasons.at(-1),
      'FAIL enough approvers: 1 approval(s) needed but policy allows only 0 member(s) of oncall other than the requester to approve',
    );
  });

  it('asks the approve action about each approver', () => {
    const cases: Array<[string, string, boolean, string]> = [
      ['user:bob', 'orders-db-readwrite', true, 'PASS approve/db-owners-approve-orders-write'],
      ['user:carol', 'orders-db-readwrite', true, 'PASS approve/dba-leads-approve-escalations'],
      ['user:carol', 'orders-db-admin', true, 'PASS approve/oncall-approves-oncall'],
      ['user:mallory', 'orders-db-readwrite', false, 'FAIL approve/no policy permits Jit::Person::"user:mallory" to approve orders-db-readwrite'],
      ['user:alice', 'orders-db-admin', false, 'FAIL approver is not the requester'],
      ['ci:acme/orders', 'orders-db-readwrite', false, 'FAIL approver kind: ci:acme/orders is not a person (user:NAME)'],
    ];
    for (const [approver, entitlement, eligible, reason] of cases) {
      const judgement = judgeApprover(sources, approver, [], entitlement, 'user:alice');
      assert.equal(judgement.eligible, eligible, `${approver} on ${entitlement}`);
      assert.ok(judgement.reasons.some((line) => line.startsWith(reason)), `${approver} on ${entitlement}: ${judgement.reasons.join('; ')}`);
    }
    const viaToken = judgeApprover(sources, 'user:mallory', ['db-owners'], 'orders-db-readwrite', 'ci:acme/orders');
    assert.equal(viaToken.eligible, true, "the token's groups count as well as the directory's");
  });
});

describe('policy decision properties', () => {
  it('never gives a deny an issuance target', () => {
    // Random identities, requests and instants: a deny must carry no Vault target and no approval rule, which
    // the workflow needs to issue anything. An allow must carry both.
    let allows = 0;
    let denies = 0;
    fc.assert(
      fc.property(
        fc.record({
          principal: fc.constantFrom('ci:acme/orders-deploy', 'agent:support-bot', 'user:alice', 'user:mallory', 'k8s:payments'),
          releaseApproved: fc.boolean(),
          groups: fc.subarray(['oncall', 'finance']),
          entitlement: fc.constantFrom('orders-db-readwrite', 'orders-db-admin', 'agent-step-token', 'missing'),
          environment: fc.constantFrom('production', 'staging'),
          sourceIp: fc.option(fc.constantFrom('10.20.4.7', '10.21.0.1', '192.0.2.10', '::1'), { nil: undefined }),
          durationSeconds: fc.integer({ min: 1, max: 7_200 }),
          ticket: fc.constantFrom('CHG-1', 'INC-2', 'OPS-3'),
          at: fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2027-01-01T00:00:00Z'), noInvalidDate: true }),
        }),
        (sample) => {
          const identity: VerifiedIdentity = {
            principal: sample.principal,
            issuer: 'https://issuer.example.test',
            subject: sample.principal,
            claims: { release_approved: sample.releaseApproved },
            groups: sample.groups,
          };
          const decision = evaluate(
            sources,
            { ...request, entitlement: sample.entitlement, environment: sample.environment, sourceIp: sample.sourceIp, durationSeconds: sample.durationSeconds, ticket: sample.ticket },
            identity,
            'issue',
            sample.at,
          );
          if (decision.allow) {
            allows += 1;
            assert.ok(decision.vault, 'an allow must say where to issue');
            assert.ok(decision.approval, 'an allow must say how to approve');
            assert.ok(!decision.reasons.some((reason) => reason.startsWith('FAIL')), decision.reasons.join('\n'));
          } else {
            denies += 1;
            assert.equal(decision.vault, undefined);
            assert.equal(decision.approval, undefined);
            assert.ok(decision.reasons.some((reason) => reason.startsWith('FAIL')), `a deny must say why: ${decision.reasons.join('; ')}`);
          }
        },
      ),
      { numRuns: 3000 },
    );
    assert.ok(allows > 0, `the samples must include allows (denies ${denies})`);
    assert.ok(denies > 0, `the samples must include denies (allows ${allows})`);
  });
});

describe('policy settings', () => {
  it('reads weekday and hour in the time zone', () => {
    const berlin = { timeZone: 'Europe/Berlin', changeWindows: [] };
    assert.deepEqual(timeContext(berlin, new Date('2026-12-06T23:30:00Z')), { weekday: 'Monday', hour: 0, inChangeWindow: false, changeWindow: undefined });
  });

  it('treats the window end as exclusive', () => {
    const settings = { timeZone: 'UTC', changeWindows: [{ name: 'w', days: ['Tuesday' as const], start: '08:00', end: '17:00' }] };
    assert.equal(timeContext(settings, new Date('2026-12-01T16:59:00Z')).inChangeWindow, true);
    assert.equal(timeContext(settings, new Date('2026-12-01T17:00:00Z')).inChangeWindow, false);
  });

  it('names an invalid time zone', () => {
    const path = writeFile('settings.json', JSON.stringify({ timeZone: 'Mars/Olympus', changeWindows: [] }));
    assert.throws(() => loadPolicySettings(path), new RegExp(`policy settings ${path} is invalid: timeZone: use an IANA time zone`));
  });

  it('names a window that ends before it starts', () => {
    const path = writeFile('settings.json', JSON.stringify({ timeZone: 'UTC', changeWindows: [{ name: 'w', days: ['Monday'], start: '18:00', end: '08:00' }] }));
    assert.throws(() => loadPolicySettings(path), /changeWindows.0.end: start must be before end/);
  });
});

describe('entitlement catalog', () => {
  it('names the file when it is missing', () => {
    assert.throws(() => loadCatalog('/nonexistent/catalog.json'), /cannot read entitlement catalog \/nonexistent\/catalog.json.*JIT_CATALOG/);
  });

  it('names the file when it is not JSON', () => {
    const path = writeFile('catalog.json', '{ "entitlements": ');
    assert.throws(() => loadCatalog(path), new RegExp(`entitlement catalog ${path} is not valid JSON`));
  });

  it('names the field and the fix when invalid', () => {
    const content = JSON.parse(readFileSync(join(CONFIG, 'entitlements.json'), 'utf8'));
    content.entitlements['orders-db-readwrite'].vault.backend = 'aws';
    assert.throws(() => loadCatalog(writeFile('catalog.json', JSON.stringify(content))), /entitlements.orders-db-readwrite.vault.backend: backend must be "database"/);
  });

  it('rejects a maximum above 12 hours', () => {
    const content = JSON.parse(readFileSync(join(CONFIG, 'entitlements.json'), 'utf8'));
    content.entitlements['orders-db-readwrite'].maxDurationSeconds = 86_400;
    assert.throws(() => loadCatalog(writeFile('catalog.json', JSON.stringify(content))), /maxDurationSeconds/);
  });
});

describe('policy store', () => {
  function copyConfig(): { dir: string; store: PolicyStore } {
    const dir = mkdtempSync(join(tmpdir(), 'jit-config-'));
    cpSync(CONFIG, dir, { recursive: true });
    writeFileSync(join(dir, 'issuers.json'), readFileSync(join(CONFIG, 'issuers.example.json')));
    const store = new PolicyStore({
      catalog: join(dir, 'entitlements.json'),
      policyDir: join(dir, 'policies'),
      settings: join(dir, 'policy-settings.json'),
      issuers: join(dir, 'issuers.json'),
      approvers: join(dir, 'approvers.json'),
    });
    return { dir, store };
  }

  it('keeps the last good policy on a bad edit', () => {
    const { dir, store } = copyConfig();
    const good = store.sources.bundle.version;
    writeFileSync(join(dir, 'policies', 'common.cedar'), 'permit (principal, action, resource) when {');
    const event = store.reload();
    assert.equal(event.ok, false);
    assert.match(event.ok ? '' : event.error, /common.cedar:1:\d+/);
    assert.equal(store.sources.bundle.version, good);
  });

  it('takes a good edit on reload', () => {
    const { dir, store } = copyConfig();
    const before = store.sources.bundle.version;
    writeFileSync(join(dir, 'policies', 'extra.cedar'), '@id("extra")\npermit (principal, action == Jit::Action::"request", resource == Jit::Entitlement::"orders-db-admin");\n');
    const event = store.reload();
    assert.equal(event.ok, true);
    assert.notEqual(store.sources.bundle.version, before);
  });

  it('reloads by itself when a file changes', async () => {
    const { dir, store } = copyConfig();
    const events: unknown[] = [];
    store.watch((event) => events.push(event));
    try {
      writeFileSync(join(dir, 'policies', 'extra.cedar'), '@id("extra")\npermit (principal, action == Jit::Action::"request", resource);\n');
      const deadline = Date.now() + 5_000;
      while (events.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(events.length > 0, 'no reload after the file changed');
      assert.ok(store.sources.bundle.policies.extra);
    } finally {
      store.close();
    }
  });

  it('ignores other files in the watched folders', async () => {
    const { dir, store } = copyConfig();
    const events: unknown[] = [];
    store.watch((event) => events.push(event));
    try {
      // The worker's own log may sit beside the settings file, as in the local stack.
      writeFileSync(join(dir, 'worker.log'), 'a log line\n');
      await new Promise((resolve) => setTimeout(resolve, 600));
      assert.equal(events.length, 0, 'a log write must not reload the policy');

      writeFileSync(join(dir, 'policy-settings.json'), JSON.stringify({ timeZone: 'Europe/Berlin', changeWindows: [] }));
      const deadline = Date.now() + 5_000;
      while (events.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(events.length, 1);
      assert.equal(store.sources.settings.timeZone, 'Europe/Berlin');
    } finally {
      store.close();
    }
  });

  it('refuses to start on a broken file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'jit-config-'));
    cpSync(CONFIG, dir, { recursive: true });
    writeFileSync(join(dir, 'policies', 'common.cedar'), 'forbid (principal, action, resource) unless { context.nope };');
    assert.throws(
      () => new PolicyStore({ catalog: join(dir, 'entitlements.json'), policyDir: join(dir, 'policies'), settings: join(dir, 'policy-settings.json'), issuers: join(CONFIG, 'issuers.example.json'), approvers: join(CONFIG, 'approvers.json') }),
      /do not match the schema/,
    );
  });
});
