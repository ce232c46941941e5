/**
 * The example Cedar policies: each scenario allowed, then each of its conditions violated one at a time, and
 * broken bundles that must fail to load with the file, line and a hint.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { decide, loadPolicyBundle, PolicyLoadError, type CedarRequest } from '../activities/cedar';
import { ROOT } from './helpers/stack';

const POLICY_DIR = join(ROOT, 'config', 'policies');
const bundle = loadPolicyBundle(POLICY_DIR);

const ENTITLEMENTS = {
  'orders-db-readwrite': { environment: 'production', maxDurationSeconds: 3600, backend: 'database' },
  'orders-db-admin': { environment: 'production', maxDurationSeconds: 3600, backend: 'database' },
  'agent-step-token': { environment: 'production', maxDurationSeconds: 600, backend: 'token' },
  'payments-api-secret': { environment: 'production', maxDurationSeconds: 900, backend: 'database' },
} as const;

type EntitlementName = keyof typeof ENTITLEMENTS;

const baseContext = {
  environment: 'production',
  sourceIp: '10.20.4.7',
  weekday: 'Tuesday',
  hour: 10,
  inChangeWindow: true,
  ticket: 'CHG-1042',
  durationSeconds: 600,
  reason: 'apply the schema migration of release 4.2.0',
};

function workload(id: string, kind: string, tags: Record<string, string>, entitlement: EntitlementName, context = {}): CedarRequest {
  return {
    principal: { type: 'Jit::Workload', id },
    action: 'request',
    resource: { type: 'Jit::Entitlement', id: entitlement },
    context: { ...baseContext, ...context, sourceIp: { __extn: { fn: 'ip', arg: (context as { sourceIp?: string }).sourceIp ?? baseContext.sourceIp } } },
    entities: [
      { uid: { type: 'Jit::Workload', id }, attrs: { kind, issuer: 'https://issuer.test' }, parents: [], tags },
      { uid: { type: 'Jit::Entitlement', id: entitlement }, attrs: { ...ENTITLEMENTS[entitlement] }, parents: [] },
    ],
  };
}

function person(id: string, groups: string[], action: string, entitlement: EntitlementName, context: Record<string, unknown>): CedarRequest {
  const requestContext =
    action === 'approve'
      ? context
      : { ...baseContext, ...context, sourceIp: { __extn: { fn: 'ip', arg: baseContext.sourceIp } } };
  return {
    principal: { type: 'Jit::Person', id },
    action,
    resource: { type: 'Jit::Entitlement', id: entitlement },
    context: requestContext,
    entities: [
      { uid: { type: 'Jit::Person', id }, attrs: { kind: 'user' }, parents: groups.map((group) => ({ type: 'Jit::Group', id: group })) },
      ...groups.map((group) => ({ uid: { type: 'Jit::Group', id: group }, attrs: {}, parents: [] })),
      { uid: { type: 'Jit::Entitlement', id: entitlement }, attrs: { ...ENTITLEMENTS[entitlement] }, parents: [] },
    ],
  };
}

function assertDenied(request: CedarRequest, policyId: string): void {
  const decision = decide(bundle, request);
  assert.equal(decision.allow, false, `expected a deny naming ${policyId}`);
  assert.ok(
    decision.reasons.some((reason) => reason.startsWith(`FAIL ${policyId}:`)),
    `expected FAIL ${policyId}, got:\n${decision.reasons.join('\n')}`,
  );
}

const deploy = (tags: Record<string, string> = { release_approved: 'true' }, context = {}) =>
  workload('acme/orders-deploy', 'ci', tags, 'orders-db-readwrite', context);

describe('deploy pipeline policy', () => {
  it('allows an approved release from CI in the window', () => {
    const decision = decide(bundle, deploy());
    assert.equal(decision.allow, true, decision.reasons.join('\n'));
    assert.deepEqual(decision.determining, ['deploy-may-request-orders-write']);
    assert.match(decision.reasons[0]!, /^PASS deploy-may-request-orders-write: deploy pipelines may request/);
  });

  const violations: Array<[string, CedarRequest, string]> = [
    ['release not approved', deploy({ release_approved: 'false' }), 'deploy-needs-approved-release'],
    ['claim missing', deploy({}), 'deploy-needs-approved-release'],
    ['outside the CI network', deploy(undefined, { sourceIp: '192.0.2.10' }), 'deploy-from-ci-network'],
    ['outside the change window', deploy(undefined, { inChangeWindow: false }), 'deploy-in-change-window'],
    ['incident instead of change ticket', deploy(undefined, { ticket: 'INC-7' }), 'deploy-needs-change-ticket'],
    ['wrong environment', deploy(undefined, { environment: 'staging' }), 'environment-matches'],
    ['duration over the maximum', deploy(undefined, { durationSeconds: 7200 }), 'duration-within-maximum'],
    ['empty reason', deploy(undefined, { reason: '' }), 'reason-given'],
  ];
  for (const [name, request, policyId] of violations) {
    it(`denies ${name}`, () => assertDenied(request, policyId));
  }

  it('denies a workload of another kind without a permit', () => {
    const decision = decide(bundle, workload('acme/orders-deploy', 'agent', { release_approved: 'true' }, 'orders-db-readwrite'));
    assert.equal(decision.allow, false);
    assert.deepEqual(decision.reasons, ['FAIL no policy permits Jit::Workload::"acme/orders-deploy" to request orders-db-readwrite']);
  });

  it('names every failed condition at once', () => {
    const decision = decide(bundle, deploy({}, { sourceIp: '192.0.2.10', inChangeWindow: false }));
    assert.deepEqual(decision.determining.sort(), ['deploy-from-ci-network', 'deploy-in-change-window', 'deploy-needs-approved-release']);
  });
});

describe('AI agent policy', () => {
  const agent = (action: string, context: Record<string, unknown> = { workflowStep: 'summarize-incident', durationSeconds: 300 }) => ({
    ...workload('support-bot', 'agent', {}, 'agent-step-token', context),
    action,
  });

  it('allows and auto-approves a step token', () => {
    assert.equal(decide(bundle, agent('request')).allow, true);
    assert.equal(decide(bundle, agent('autoApprove')).allow, true);
  });

  it('denies without a workflow step', () => assertDenied(agent('request', { durationSeconds: 300 }), 'agent-names-its-step'));
  it('denies more than ten minutes', () => assertDenied(agent('autoApprove', { workflowStep: 'x', durationSeconds: 601 }), 'agent-minutes-only'));
});

describe('on-call policy', () => {
  it('allows an on-call engineer with an incident', () => {
    assert.equal(decide(bundle, person('alice', ['oncall'], 'request', 'orders-db-admin', { ticket: 'INC-311' })).allow, true);
  });

  it('denies elevation without an incident', () => {
    assertDenied(person('alice', ['oncall'], 'request', 'orders-db-admin', { ticket: 'CHG-1' }), 'oncall-needs-incident');
  });

  it('denies someone outside the on-call group', () => {
    assert.equal(decide(bundle, person('mallory', ['finance'], 'request', 'orders-db-admin', { ticket: 'INC-311' })).allow, false);
  });

  it('never auto-approves elevation', () => {
    assert.equal(decide(bundle, person('alice', ['oncall'], 'autoApprove', 'orders-db-admin', { ticket: 'INC-311' })).allow, false);
  });

  it('lets another on-call member approve', () => {
    assert.equal(decide(bundle, person('bob', ['oncall'], 'approve', 'orders-db-admin', { requester: 'user:alice' })).allow, true);
    assert.equal(decide(bundle, person('carol', ['sales'], 'approve', 'orders-db-admin', { requester: 'user:alice' })).allow, false);
  });
});

describe('service policy', () => {
  const service = (tags: Record<string, string>, context = {}) => workload('system:serviceaccount:payments:api', 'k8s', tags, 'payments-api-secret', context);

  it('allows the payments workload in its environment', () => {
    assert.equal(decide(bundle, service({ namespace: 'payments', environment: 'production' })).allow, true);
  });

  it('denies another namespace', () => {
    assert.equal(decide(bundle, service({ namespace: 'web', environment: 'production' })).allow, false);
  });

  it('denies an environment the token does not name', () => {
    assertDenied(service({ namespace: 'payments', environment: 'staging' }), 'payments-environment-from-token');
  });
});

describe('fail closed', () => {
  it('denies a request the schema rejects', () => {
    const request = deploy();
    request.context = { ...request.context, durationSeconds: 'ten minutes' };
    const decision = decide(bundle, request);
    assert.equal(decision.allow, false);
    assert.match(decision.reasons[0]!, /^FAIL request could not be evaluated/);
  });

  it('never allows when a deny condition holds', () => {
    // Random contexts: the decision is an allow exactly when every deploy condition holds.
    let allows = 0;
    fc.assert(
      fc.property(
        fc.record({
          approved: fc.boolean(),
          // The second octet decides membership of 10.20.0.0/16, so it is drawn near 20 often.
          ip: fc.tuple(fc.oneof(fc.constant(20), fc.integer({ min: 0, max: 255 })), fc.integer({ min: 0, max: 255 })),
          inChangeWindow: fc.boolean(),
          durationSeconds: fc.integer({ min: 1, max: 5_000 }),
          environment: fc.constantFrom('production', 'staging'),
          ticket: fc.constantFrom('CHG-1', 'INC-2', 'OPS-3'),
        }),
        (sample) => {
          const sourceIp = `10.${sample.ip[0]}.${sample.ip[1]}.9`;
          const decision = decide(
            bundle,
            deploy({ release_approved: String(sample.approved) }, {
              sourceIp,
              inChangeWindow: sample.inChangeWindow,
              durationSeconds: sample.durationSeconds,
              environment: sample.environment,
              ticket: sample.ticket,
            }),
          );
          const allowed =
            sample.approved &&
            sample.ip[0] === 20 &&
            sample.inChangeWindow &&
            sample.durationSeconds <= 3600 &&
            sample.environment === 'production' &&
            sample.ticket.startsWith('CHG-');
          assert.equal(decision.allow, allowed, `${JSON.stringify(sample)}: ${decision.reasons.join('; ')}`);
          if (allowed) allows += 1;
        },
      ),
      { numRuns: 1000 },
    );
    assert.ok(allows > 0, 'the samples must include allowed requests too');
  });

  function brokenBundle(file: string, change: (text: string) => string): string {
    const dir = mkdtempSync(join(tmpdir(), 'jit-policies-'));
    cpSync(POLICY_DIR, dir, { recursive: true });
    writeFileSync(join(dir, file), change(readFileSync(join(dir, file), 'utf8')));
    return dir;
  }

  it('names file and line of a syntax error', () => {
    const dir = brokenBundle('deploy-pipeline.cedar', (text) => text.replace('unless { context.inChangeWindow };', 'unless { context.inChangeWindow '));
    assert.throws(() => loadPolicyBundle(dir), (err: unknown) => {
      assert.ok(err instanceof PolicyLoadError);
      assert.match(err.message, new RegExp(`${dir}/deploy-pipeline.cedar:\\d+:\\d+: .*hint: `));
      return true;
    });
  });

  it('names the policy that breaks the schema', () => {
    const dir = brokenBundle('ai-agent.cedar', (text) => text.replace('principal.kind == "agent"', 'principal.role == "agent"'));
    assert.throws(() => loadPolicyBundle(dir), new RegExp(`${dir}/ai-agent.cedar:\\d+ \\(agent-may-request-step-token\\): .*role`));
  });

  it('rejects a duplicate policy id', () => {
    const dir = brokenBundle('service.cedar', (text) => text.replace('@id("payments-may-request-secret")', '@id("reason-given")'));
    assert.throws(() => loadPolicyBundle(dir), /policy id "reason-given" is already used at .*common.cedar:\d+/);
  });

  it('names a broken schema', () => {
    const dir = brokenBundle('schema.cedarschema', (text) => text.replace('entity Group;', 'entity Group'));
    assert.throws(() => loadPolicyBundle(dir), new RegExp(`${dir}/schema.cedarschema:\\d+:\\d+`));
  });

  it('versions the bundle by content', () => {
    const dir = brokenBundle('common.cedar', (text) => `${text}\n// a comment\n`);
    assert.notEqual(loadPolicyBundle(dir).version, bundle.version);
  });
});
