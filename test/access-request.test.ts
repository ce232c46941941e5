/**
 * The access-request workflow on the real Temporal dev server, issuing from real Vault into real PostgreSQL.
 * Windows and deadlines are seconds long, set through the test catalog and the request.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';

import { jitDataConverter } from '../client/codec';
import { startAccessRequest, waitForDecision } from '../client/sdk';
import {
  ACCESS_REQUEST_WORKFLOW,
  approveSignal,
  releaseSignal,
  revokeSignal,
  statusQuery,
  type AccessRequestStatus,
} from '../workflows/definitions';
import type { AccessRequestInput } from '../workflows/request';
import { castVote } from '../client/votes';
import { eventually, liveDatabaseLeases, liveDatabaseUsers, startHarness, TEST_APPROVERS, voteAs, type Harness } from './helpers/stack';

const base: Omit<AccessRequestInput, 'identityToken'> = {
  entitlement: 'orders-db-readwrite',
  environment: 'production',
  durationSeconds: 3,
  reason: 'apply the schema migration of release 4.2.0',
  ticket: 'CHG-1042',
};

let harness: Harness;

before(async () => {
  harness = await startHarness();
});

after(async () => {
  await harness?.stop();
});

/** Starts a request as `ci:deploy-pipeline`, proven by a token from the test issuer. */
async function start(change: Partial<AccessRequestInput> = {}): Promise<WorkflowHandle> {
  const identityToken = await harness.issuer.mint('ci:deploy-pipeline');
  return startAccessRequest(harness.env.client, { ...base, identityToken, ...change }, { taskQueue: harness.settings.JIT_TASK_QUEUE });
}

async function waitForPhase(handle: WorkflowHandle, phase: AccessRequestStatus['phase']): Promise<AccessRequestStatus> {
  return eventually(`${handle.workflowId} to reach ${phase}`, 30_000, async () => {
    const status = await handle.query(statusQuery);
    return status.phase === phase ? status : undefined;
  });
}

async function result(handle: WorkflowHandle): Promise<AccessRequestStatus> {
  return (await handle.result()) as AccessRequestStatus;
}

describe('access request workflow', () => {
  it('issues after approval and revokes at the window end', async () => {
    const handle = await start();
    await waitForPhase(handle, 'pending-approval');
    const answer = await voteAs(harness, handle.workflowId, 'user:alice', 'approve', 'reviewed');
    assert.deepEqual(answer, { accepted: true, counted: true, approver: 'user:alice', phase: 'pending-approval', approvals: 1, quorum: 1 });

    const granted = await waitForDecision(handle);
    assert.equal(granted.phase, 'granted');
    assert.match(granted.grant!.leaseId, /^database\/creds\/jit-/);
    assert.ok((await liveDatabaseUsers()).includes(granted.grant!.username));
    const window = Date.parse(granted.grant!.expiresAt) - Date.parse(granted.grant!.issuedAt);
    assert.ok(window <= 3_000, `lease lasts ${window} ms, longer than the 3 s window`);

    const final = await result(handle);
    assert.equal(final.phase, 'revoked');
    assert.equal(final.revocation!.cause, 'window-ended');
    assert.ok(final.revocation!.lagSeconds < 5, `revocation lag ${final.revocation!.lagSeconds}s`);
    assert.deepEqual(final.revocation!.checks, ['Vault lease lookup: no live lease', 'PostgreSQL: role dropped, no session open']);
    assert.equal(final.requester, 'ci:deploy-pipeline');
    assert.equal(final.decisions.length, 2);
    assert.deepEqual(final.decisions.map((decision) => decision.stage), ['request', 'issue']);
    assert.match(final.decisions[0]!.reasons[0]!, /^PASS identity: ci:deploy-pipeline, verified by http:\/\/127\.0\.0\.1:\d+\/ci$/);
    assert.ok(!(await liveDatabaseUsers()).includes(granted.grant!.username));
    assert.deepEqual((await liveDatabaseLeases()).filter((lease) => lease.startsWith(granted.grant!.leaseId)), []);
  });

  it('ends on a denial without issuing', async () => {
    const handle = await start();
    await waitForPhase(handle, 'pending-approval');
    await voteAs(harness, handle.workflowId, 'user:bob', 'deny', 'no migration is scheduled today');

    const final = await result(handle);
    assert.equal(final.phase, 'denied');
    assert.equal(final.outcome, 'denied by user:bob: no migration is scheduled today');
    assert.equal(final.grant, undefined);
    assert.equal(final.decisions.length, 1);
  });

  it('refuses self-approval and ineligible approvers', async () => {
    const identityToken = await harness.issuer.mint('user:alice', { groups: ['db-owners'] });
    const handle = await startAccessRequest(harness.env.client, { ...base, identityToken }, { taskQueue: harness.settings.JIT_TASK_QUEUE });
    await waitForPhase(handle, 'pending-approval');

    const self = await voteAs(harness, handle.workflowId, 'user:alice', 'approve');
    const outsider = await voteAs(harness, handle.workflowId, 'user:mallory', 'approve');
    const workload = await voteAs(harness, handle.workflowId, 'ci:deploy-pipeline', 'approve');
    const bareDenial = await voteAs(harness, handle.workflowId, 'user:bob', 'deny');
    const forged = await castVote(harness.env.client, handle.workflowId, { decision: 'approve', identityToken: 'e30.e30.', via: 'api' });
    await handle.signal(approveSignal, { approver: 'user:bob' });

    assert.equal(self.accepted && self.rejectedBecause, 'the requester cannot approve or deny its own request');
    assert.match(String(outsider.accepted && outsider.rejectedBecause), /^user:mallory may not approve orders-db-readwrite under the current policy \(FAIL approve\/no policy permits Jit::Person::"user:mallory"/);
    assert.equal(
      workload.accepted && workload.rejectedBecause,
      'ci:deploy-pipeline may not approve orders-db-readwrite under the current policy (FAIL approver kind: ci:deploy-pipeline is not a person (user:NAME)); ' +
        "the policy's approve rules and the approver's groups in the approver directory decide who may",
    );
    assert.deepEqual(bareDenial, { accepted: false, reason: 'a denial needs a reason; give one with the vote' });
    assert.match(String(forged.accepted && forged.rejectedBecause), /^the identity token was rejected: /);

    const status = await eventually('five recorded votes', 10_000, async () => {
      const current = await handle.query(statusQuery);
      return current.votes.length === 5 ? current : undefined;
    });
    assert.equal(status.phase, 'pending-approval');
    assert.deepEqual(
      status.votes.map((vote) => [vote.approver, vote.counted, vote.via]),
      [
        ['user:alice', false, 'cli'],
        ['user:mallory', false, 'cli'],
        ['ci:deploy-pipeline', false, 'cli'],
        ['unverified', false, 'api'],
        ['user:bob', false, undefined],
      ],
    );
    assert.equal(status.votes[4]!.rejectedBecause, 'a signal carries no proof of identity; vote with "jit approve" or the Slack buttons');
    await handle.signal(revokeSignal, { by: 'user:operator', reason: 'test cleanup' });
    assert.equal((await result(handle)).phase, 'denied');
  });

  it('counts each approver once toward the quorum', async () => {
    const handle = await start({ entitlement: 'orders-db-two-approvers' });
    await waitForPhase(handle, 'pending-approval');
    const first = await voteAs(harness, handle.workflowId, 'user:alice', 'approve');
    const again = await voteAs(harness, handle.workflowId, 'user:alice', 'approve');
    assert.equal(first.accepted && first.counted, true);
    assert.equal(again.accepted && again.rejectedBecause, 'user:alice has already approved');
    assert.equal((await handle.query(statusQuery)).phase, 'pending-approval');

    const second = await voteAs(harness, handle.workflowId, 'user:bob', 'approve');
    assert.equal(second.accepted && second.approvals, 2);
    const granted = await waitForDecision(handle);
    assert.equal(granted.phase, 'granted');
    const late = await voteAs(harness, handle.workflowId, 'user:carol', 'approve');
    assert.deepEqual(late, { accepted: false, reason: 'the request is granted, not waiting for approval' });

    await handle.signal(releaseSignal, { by: 'ci:deploy-pipeline' });
    assert.equal((await result(handle)).phase, 'revoked');
    const ended = await voteAs(harness, handle.workflowId, 'user:carol', 'approve');
    assert.deepEqual(ended, { accepted: false, reason: `request ${handle.workflowId} has ended (revoked); votes no longer count`, phase: 'revoked' });
  });

  it('judges eligibility under the policy in force at the vote', async () => {
    const handle = await start({ entitlement: 'orders-db-two-approvers' });
    await waitForPhase(handle, 'pending-approval');
    const original = readFileSync(harness.policy.paths.approvers, 'utf8');
    const edited = JSON.parse(original) as { approvers: Record<string, { groups: string[] }> };
    edited.approvers['user:carol']!.groups = [];
    const dir = mkdtempSync(join(tmpdir(), 'jit-approvers-'));
    writeFileSync(join(dir, 'approvers.json'), JSON.stringify(edited));
    harness.policy.paths.approvers = join(dir, 'approvers.json');
    try {
      assert.equal(harness.policy.reload().ok, true);
      const carol = await voteAs(harness, handle.workflowId, 'user:carol', 'approve');
      assert.match(String(carol.accepted && carol.rejectedBecause), /^user:carol may not approve orders-db-two-approvers under the current policy/);
    } finally {
      harness.policy.paths.approvers = TEST_APPROVERS;
      harness.policy.reload();
    }
    const carolAgain = await voteAs(harness, handle.workflowId, 'user:carol', 'approve');
    assert.equal(carolAgain.accepted && carolAgain.counted, true);
    await handle.signal(revokeSignal, { by: 'user:operator', reason: 'test cleanup' });
    assert.equal((await result(handle)).phase, 'denied');
  });

  it('expires when the approval deadline passes', async () => {
    const handle = await start({ entitlement: 'orders-db-two-approvers' });
    await waitForPhase(handle, 'pending-approval');
    await voteAs(harness, handle.workflowId, 'user:carol', 'approve');

    const final = await result(handle);
    assert.equal(final.phase, 'expired');
    assert.equal(final.outcome, 'approval deadline passed with 1 of 2 approval(s)');
    assert.equal(final.grant, undefined);
  });

  it('revokes early on release', async () => {
    const handle = await start({ environment: 'staging', entitlement: 'orders-db-staging-auto', durationSeconds: 120 });
    const granted = await waitForDecision(handle);
    assert.equal(granted.phase, 'granted');
    assert.equal(granted.votes.length, 0);

    const releasedAt = Date.now();
    await handle.signal(releaseSignal, { by: 'ci:deploy-pipeline' });
    const final = await result(handle);
    assert.equal(final.phase, 'revoked');
    assert.equal(final.revocation!.cause, 'released');
    assert.ok(Date.parse(final.revocation!.revokedAt) - releasedAt < 10_000);
    assert.ok(Date.parse(final.revocation!.revokedAt) < Date.parse(granted.grant!.expiresAt));
    assert.ok(!(await liveDatabaseUsers()).includes(granted.grant!.username));
  });

  it('revokes when an operator revokes', async () => {
    const handle = await start({ environment: 'staging', entitlement: 'orders-db-staging-auto', durationSeconds: 120 });
    await waitForDecision(handle);
    await handle.signal(revokeSignal, { by: 'user:operator', reason: 'suspicious queries' });
    const final = await result(handle);
    assert.equal(final.revocation!.cause, 'revoked-by-operator');
  });

  it('revokes when the workflow is cancelled', async () => {
    const handle = await start({ environment: 'staging', entitlement: 'orders-db-staging-auto', durationSeconds: 120 });
    const granted = await waitForDecision(handle);
    await handle.cancel();
    await eventually('the revocation after cancel', 20_000, async () => {
      const status = await handle.query(statusQuery).catch(() => undefined);
      return status?.phase === 'revoked' ? status : undefined;
    });
    assert.ok(!(await liveDatabaseUsers()).includes(granted.grant!.username));
  });

  it('denies by policy before any approval', async () => {
    const handle = await start({ environment: 'staging' });
    const final = await result(handle);
    assert.equal(final.phase, 'denied');
    assert.match(final.outcome!, /FAIL request\/environment-matches: the request's environment must be the entitlement's environment/);
    assert.equal(final.approvalDeadline, undefined);
  });

  it('fails invalid input that bypassed the SDK', async () => {
    const handle = await harness.env.client.workflow.start(ACCESS_REQUEST_WORKFLOW, {
      workflowId: `jit-invalid-${Date.now()}`,
      taskQueue: harness.settings.JIT_TASK_QUEUE,
      args: [{ ...base, identityToken: await harness.issuer.mint('ci:deploy-pipeline'), durationSeconds: 0 }],
    });
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.match(String(err.cause?.message), /invalid access request: durationSeconds: durationSeconds must be at least 1 \(got 0\)/);
      return true;
    });
  });

  it('denies a token from an untrusted key', async () => {
    const { createIssuerKeys, mintToken } = await import('../scripts/local-issuer');
    const stranger = await createIssuerKeys();
    const iss = JSON.parse(Buffer.from((await harness.issuer.mint('ci:deploy-pipeline')).split('.')[1]!, 'base64url').toString()).iss;
    const forged = await mintToken(stranger.privateJwk, { issuer: iss, subject: 'deploy-pipeline' });
    const final = await result(await start({ identityToken: forged }));
    assert.equal(final.phase, 'denied');
    assert.equal(final.requester, 'unverified');
    assert.match(final.outcome!, /FAIL identity: the token from .* was rejected: no key in the issuer's JWKS matches/);
  });

  it('lets the verified identity, not a claim, approve', async () => {
    const handle = await start({ identityToken: await harness.issuer.mint('agent:release-bot') });
    await waitForPhase(handle, 'pending-approval');
    const status = await handle.query(statusQuery);
    assert.equal(status.requester, 'agent:release-bot');
    await handle.signal(revokeSignal, { by: 'user:operator', reason: 'test cleanup' });
    await result(handle);
  });

  it('replays a recorded history with the current code', async () => {
    const handle = await start({ environment: 'staging', entitlement: 'orders-db-staging-auto', durationSeconds: 2 });
    await result(handle);
    const history = await handle.fetchHistory();
    await Worker.runReplayHistory(
      { workflowsPath: require.resolve('../workflows'), dataConverter: jitDataConverter(harness.settings.JIT_CODEC_KEYS) },
      history,
      handle.workflowId,
    );
  });
});
