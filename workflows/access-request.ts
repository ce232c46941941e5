/**
 * The access-request workflow: one durable run per request, from policy to verified revocation.
 *
 * Read top to bottom, it is the lifecycle. It validates, evaluates policy, waits for approval and evaluates
 * policy again. It issues a credential whose Vault lease ends with the window, and holds it until the window
 * ends or the requester releases it. Then it revokes and verifies. Every side effect lives in an activity.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TemporalFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';

import type { Activities } from '../activities';
import {
  approveSignal,
  denySignal,
  entitlementKey,
  environmentKey,
  grantRoleName,
  phaseKey,
  releaseSignal,
  requesterKey,
  revokeSignal,
  statusQuery,
  type AccessRequestStatus,
  type ApprovalVote,
  type GrantRecord,
  type Phase,
  type PolicyDecision,
  type RevocationRecord,
} from './definitions';
import { accessRequestSchema, describeIssues, identitySchema } from './request';

/** Policy and issuance fail fast on bad input but retry through brief outages of Vault or the worker. */
const { evaluatePolicy, issueCredential } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 },
});

/**
 * Revocation never gives up: no attempt limit, and a short maximum interval so that access ends soon after
 * Vault or PostgreSQL come back. Vault also ends the lease at its TTL if every attempt fails.
 */
const { revokeCredential, verifyRevocation } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds' },
});

/**
 * Runs one access request and returns its final status.
 * The input is validated again here because any Temporal client can start this workflow.
 */
export async function accessRequest(input: unknown): Promise<AccessRequestStatus> {
  const parsed = accessRequestSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `invalid access request: ${describeIssues(parsed.error.issues)}`,
      'InvalidAccessRequest',
    );
  }
  const request = parsed.data;

  const status: AccessRequestStatus = {
    requestId: workflowInfo().workflowId,
    phase: 'evaluating',
    requester: 'unverified',
    entitlement: request.entitlement,
    environment: request.environment,
    durationSeconds: request.durationSeconds,
    reason: request.reason,
    ticket: request.ticket,
    decisions: [],
    votes: [],
  };
  let operatorRevoke: { by: string; reason: string } | undefined;
  let releasedBy: string | undefined;

  setHandler(statusQuery, () => status);
  upsertSearchAttributes([
    { key: entitlementKey, value: request.entitlement },
    { key: environmentKey, value: request.environment },
  ]);
  setHandler(releaseSignal, ({ by }) => {
    releasedBy ??= by;
  });
  setHandler(revokeSignal, (signal) => {
    operatorRevoke ??= signal;
  });

  // 1. Identity and policy at request time. From here on the requester is the verified principal.
  const decision = await evaluatePolicy({ request, stage: 'request' });
  status.decisions.push(decision);
  if (decision.principal) {
    status.requester = decision.principal;
    upsertSearchAttributes([{ key: requesterKey, value: decision.principal }]);
  }
  if (!decision.allow) {
    return finish(status, 'denied', `policy denied the request: ${failedReasons(decision)}`);
  }

  // 2. Approval. Votes are judged as they arrive, by judgeVote.
  const rule = decision.approval!;
  const approvedBy = new Set<string>();
  let deniedBy: ApprovalVote | undefined;
  const castVote = (kind: 'approve' | 'deny', vote: ApprovalVote) => {
    const rejection = judgeVote(status, rule.approvers, approvedBy, kind, vote);
    status.votes.push({
      approver: String(vote?.approver),
      reason: typeof vote?.reason === 'string' ? vote.reason.slice(0, 500) : undefined,
      decision: kind,
      counted: !rejection,
      rejectedBecause: rejection,
      at: now(),
    });
    if (rejection) {
      log.warn('vote not counted', { requestId: status.requestId, approver: String(vote?.approver), rejection });
      return;
    }
    if (kind === 'approve') approvedBy.add(vote.approver);
    else deniedBy ??= vote;
  };

  // The phase is set before the handlers, so votes that arrived early, and were buffered, are judged as pending.
  if (!rule.autoApprove) {
    setPhase(status, 'pending-approval', `waiting for ${rule.quorum} approval(s) from ${rule.approvers.join(', ')}`);
  }
  setHandler(approveSignal, (vote) => castVote('approve', vote));
  setHandler(denySignal, (vote) => castVote('deny', vote));

  if (!rule.autoApprove) {
    status.approvalDeadline = new Date(Date.now() + rule.deadlineSeconds * 1000).toISOString();
    const decided = await condition(
      () => approvedBy.size >= rule.quorum || deniedBy !== undefined || operatorRevoke !== undefined,
      rule.deadlineSeconds * 1000,
    );
    if (deniedBy) {
      return finish(status, 'denied', `denied by ${deniedBy.approver}: ${deniedBy.reason ?? 'no reason given'}`);
    }
    if (operatorRevoke) {
      return finish(status, 'denied', `withdrawn by ${operatorRevoke.by} before approval: ${operatorRevoke.reason}`);
    }
    if (!decided) {
      return finish(status, 'expired', `approval deadline passed with ${approvedBy.size} of ${rule.quorum} approval(s)`);
    }
  }

  // 3. Policy again, just before issuing: the context may have changed while the request waited.
  setPhase(status, 'issuing', 'checking policy again before issuing');
  const recheck = await evaluatePolicy({ request, stage: 'issue', identity: decision.identity });
  status.decisions.push(recheck);
  if (!recheck.allow) {
    return finish(status, 'denied', `policy denied at issue time: ${failedReasons(recheck)}`);
  }

  // 4. Issue. The lease TTL equals the window, so Vault ends the credential even if this workflow never resumes.
  const vault = recheck.vault!;
  const vaultRole = grantRoleName(status.requestId);
  const windowSeconds = Math.min(request.durationSeconds, recheck.maxDurationSeconds!);
  let grant: GrantRecord;
  try {
    grant = await issueCredential({ requestId: status.requestId, vault, vaultRole, ttlSeconds: windowSeconds });
  } catch (err) {
    // An attempt may have created a lease before failing: revoke everything issued under this grant's role.
    await CancellationScope.nonCancellable(() => revokeAndVerify(status, { mount: vault.mount, vaultRole }, 'cancelled'));
    return finish(status, 'failed', `issuing the credential failed: ${errorMessage(err)}`);
  }
  status.grant = grant;
  setPhase(status, 'granted', `granted to ${status.requester} until ${grant.expiresAt}`);

  // 5. Hold until the lease's end, a release or an operator revoke. Revocation runs in a scope that
  // cancellation cannot interrupt, so a cancelled workflow still removes access.
  let cause: RevocationRecord['cause'] = 'window-ended';
  try {
    const windowMs = Date.parse(grant.expiresAt) - Date.now();
    await condition(() => releasedBy !== undefined || operatorRevoke !== undefined, Math.max(windowMs, 1));
    if (releasedBy) cause = 'released';
    else if (operatorRevoke) cause = 'revoked-by-operator';
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cause = 'cancelled';
  } finally {
    await CancellationScope.nonCancellable(() => revokeAndVerify(status, { mount: vault.mount, vaultRole, username: grant.username }, cause));
  }
  return status;
}

/**
 * Revokes every lease issued under the grant's Vault role, then confirms by read-back that none is left and
 * that the database user is gone. Both activities retry until they succeed.
 */
async function revokeAndVerify(
  status: AccessRequestStatus,
  target: { mount: string; vaultRole: string; username?: string },
  cause: RevocationRecord['cause'],
): Promise<void> {
  setPhase(status, 'revoking', `revoking: ${cause}`);
  const windowEnd = status.grant ? Math.min(Date.now(), Date.parse(status.grant.expiresAt)) : Date.now();

  await revokeCredential(target);
  const checks = await verifyRevocation(target);

  const revokedAt = Date.now();
  status.revocation = {
    revokedAt: new Date(revokedAt).toISOString(),
    lagSeconds: Math.max(0, (revokedAt - windowEnd) / 1000),
    checks,
    cause,
  };
  setPhase(status, 'revoked', `revoked (${cause}); verified: ${checks.join('; ')}`);
}

function errorMessage(err: unknown): string {
  if (err instanceof TemporalFailure && err.cause) return errorMessage(err.cause);
  return err instanceof Error ? err.message : String(err);
}

/**
 * Returns why a vote must not count, or undefined when it counts. Eligibility is the approver list of the
 * decision recorded in history; the requester can never approve or deny its own request.
 */
function judgeVote(
  status: AccessRequestStatus,
  approvers: readonly string[],
  approvedBy: ReadonlySet<string>,
  kind: 'approve' | 'deny',
  vote: ApprovalVote,
): string | undefined {
  if (!identitySchema.safeParse(vote?.approver).success) return 'the vote carries no valid approver identity (KIND:NAME)';
  if (status.phase !== 'pending-approval') return `the request is ${status.phase}, not waiting for approval`;
  if (vote.approver === status.requester) return 'the requester cannot approve or deny its own request';
  if (!approvers.includes(vote.approver)) return `${vote.approver} is not an eligible approver for ${status.entitlement}`;
  if (kind === 'approve' && approvedBy.has(vote.approver)) return `${vote.approver} has already approved`;
  if (kind === 'deny' && !vote.reason?.trim()) return 'a denial needs a reason';
  return undefined;
}

function failedReasons(decision: PolicyDecision): string {
  return decision.reasons.filter((reason) => reason.startsWith('FAIL')).join('; ') || 'no rule allowed it';
}

function setPhase(status: AccessRequestStatus, phase: Phase, details: string): void {
  status.phase = phase;
  upsertSearchAttributes([{ key: phaseKey, value: phase }]);
  setCurrentDetails(details);
  log.info('phase changed', { requestId: status.requestId, phase });
}

function finish(status: AccessRequestStatus, phase: Phase, outcome: string): AccessRequestStatus {
  status.outcome = outcome;
  setPhase(status, phase, outcome);
  return status;
}

function now(): string {
  return new Date().toISOString();
}
