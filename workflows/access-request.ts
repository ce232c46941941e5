/**
 * The access-request workflow: one durable run per request, from policy to verified revocation.
 *
 * Read top to bottom, it is the lifecycle. It validates, evaluates policy, waits for approval and evaluates
 * policy again. It issues a credential whose Vault lease ends with the window, and holds it until the window
 * ends or the requester releases it. Then it revokes and verifies. Every side effect lives in an activity.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
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
  voteUpdate,
  type AccessRequestStatus,
  type ApprovalRule,
  type GrantRecord,
  type Phase,
  type PolicyDecision,
  type RevocationRecord,
  type SlackMessageRef,
} from './definitions';
import { Ballot, type ApprovalStep } from './approval';
import { RequestMessage } from './request-message';
import { accessRequestSchema, describeIssues } from './request';

/**
 * Marks runs whose votes must carry identity tokens and whose request has a Slack message. Histories without
 * the marker were recorded before and replay with the approver-list rules.
 */
const VERIFIED_VOTES_PATCH = 'verified-votes-and-request-message';

/** How long a revocation may keep failing before the request's message calls it late. */
const REVOCATION_LATE_AFTER = '10 seconds';

/**
 * Policy and issuance fail fast on bad input but retry through brief outages of Vault or the worker. An attempt
 * whose worker died is retried after the timeout.
 */
const { evaluatePolicy, issueCredential } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 5 },
});

/**
 * Revocation never gives up: no attempt limit, and a short maximum interval so that access ends soon after
 * Vault or PostgreSQL come back. Vault also ends the lease at its TTL if every attempt fails. The activities
 * heartbeat every second, so an attempt whose worker died is retried after the 3 s heartbeat timeout. That
 * bounds the revocation lag after a crash. A single Vault request times out after 10 s.
 */
const { revokeCredential, verifyRevocation } = proxyActivities<Activities>({
  startToCloseTimeout: '15 seconds',
  heartbeatTimeout: '3 seconds',
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

  const message = new RequestMessage(status);
  /**
   * Ends the request in a final phase other than revoked and shows that on the Slack message. Votes still being
   * judged finish first, so each voter gets a result rather than an error.
   */
  const end = async (phase: Phase, outcome: string): Promise<AccessRequestStatus> => {
    finish(status, phase, outcome);
    await message.refresh();
    await condition(allHandlersFinished);
    return status;
  };

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
    return end('denied', `policy denied the request: ${failedReasons(decision)}`);
  }

  // 2. Approval. Votes are judged as they arrive, by the ballot. Histories recorded before votes carried
  // identity tokens lack this patch marker and replay with the old rules and no Slack message.
  const rule = decision.approval!;
  const verifiedVotes = patched(VERIFIED_VOTES_PATCH);
  const ballot = new Ballot(status, rule, verifiedVotes, () => message.refresh());

  // The phase is set before the handlers, so votes that arrived early, and were buffered, are judged as pending.
  if (!rule.autoApprove) {
    setPhase(status, 'pending-approval', `waiting for ${rule.quorum} approval(s) from ${rule.approvers.join(', ')}`);
  }
  setHandler(approveSignal, (vote) => ballot.castBySignal('approve', vote));
  setHandler(denySignal, (vote) => ballot.castBySignal('deny', vote));
  setHandler(voteUpdate, (input) => ballot.castByUpdate(input), { validator: (input) => ballot.validate(input) });

  if (!rule.autoApprove) {
    const requestedAt = Date.now();
    const deadline = requestedAt + rule.deadlineSeconds * 1000;
    status.approvalDeadline = new Date(deadline).toISOString();
    if (verifiedVotes) await message.post(rule.slackChannel);

    const steps = verifiedVotes ? approvalSteps(rule, requestedAt, ballot, message) : [];
    const outcome = await ballot.waitForDecision(deadline, steps, () => operatorRevoke !== undefined);
    if (outcome.kind === 'denied') {
      return end('denied', `denied by ${outcome.by.approver}: ${outcome.by.reason ?? 'no reason given'}`);
    }
    if (outcome.kind === 'withdrawn') {
      return end('denied', `withdrawn by ${operatorRevoke!.by} before approval: ${operatorRevoke!.reason}`);
    }
    if (outcome.kind === 'expired') {
      return end('expired', `approval deadline passed with ${ballot.approvedBy.size} of ${rule.quorum} approval(s)`);
    }
  }

  // 3. Policy again, just before issuing: the context may have changed while the request waited.
  setPhase(status, 'issuing', 'checking policy again before issuing');
  await message.refresh();
  const recheck = await evaluatePolicy({ request, stage: 'issue', identity: decision.identity });
  status.decisions.push(recheck);
  if (!recheck.allow) {
    return end('denied', `policy denied at issue time: ${failedReasons(recheck)}`);
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
    await CancellationScope.nonCancellable(() => revokeAndVerify(status, message, { mount: vault.mount, vaultRole }, 'cancelled'));
    return end('failed', `issuing the credential failed: ${errorMessage(err)}`);
  }
  status.grant = grant;
  setPhase(status, 'granted', `granted to ${status.requester} until ${grant.expiresAt}`);
  await message.refresh();

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
    let by: string | undefined;
    if (cause === 'released') by = releasedBy;
    if (cause === 'revoked-by-operator') by = operatorRevoke?.by;
    await CancellationScope.nonCancellable(() =>
      revokeAndVerify(status, message, { mount: vault.mount, vaultRole, username: grant.username, slackMessage: status.slackMessage }, cause, by),
    );
    await message.refresh();
  }
  await condition(allHandlersFinished);
  return status;
}

/**
 * Builds the reminder and the escalation of a pending request. Each is a reply in the message's thread that
 * mentions the approvers who have not approved yet: the first groups at the reminder, and the escalation group
 * at the escalation.
 */
function approvalSteps(rule: ApprovalRule, requestedAt: number, ballot: Ballot, message: RequestMessage): ApprovalStep[] {
  const steps: ApprovalStep[] = [];
  const pending = (approvers: string[]) => approvers.filter((approver) => !ballot.approvedBy.has(approver));
  const escalationOnly = rule.escalationApprovers ?? [];
  const firstAsked = rule.approvers.filter((approver) => !escalationOnly.includes(approver));
  if (rule.reminderAfterSeconds !== undefined) {
    steps.push({
      at: requestedAt + rule.reminderAfterSeconds * 1000,
      run: () => message.notice(`Reminder: this request still needs ${rule.quorum - ballot.approvedBy.size} approval(s).`, pending(firstAsked)),
    });
  }
  if (rule.escalation) {
    const { groups } = rule.escalation;
    steps.push({
      at: requestedAt + rule.escalation.afterSeconds * 1000,
      run: () =>
        message.notice(
          `Escalated to ${groups.join(', ')}: this request still needs ${rule.quorum - ballot.approvedBy.size} approval(s).`,
          pending(escalationOnly),
        ),
    });
  }
  return steps;
}

/**
 * Revokes every lease issued under the grant's Vault role, then confirms by read-back that none is left and
 * that the database user is gone. Both activities retry until they succeed.
 */
async function revokeAndVerify(
  status: AccessRequestStatus,
  message: RequestMessage,
  target: { mount: string; vaultRole: string; username?: string; slackMessage?: SlackMessageRef },
  cause: RevocationRecord['cause'],
  by?: string,
): Promise<void> {
  setPhase(status, 'revoking', `revoking: ${cause}`);
  const windowEnd = status.grant ? Math.min(Date.now(), Date.parse(status.grant.expiresAt)) : Date.now();

  let verified = false;
  const revocation = (async () => {
    await revokeCredential(target);
    const checks = await verifyRevocation(target);
    verified = true;
    return checks;
  })();
  // A request with a Slack message shows a revocation that is still failing after a while. Runs recorded
  // before the message existed have none, so they schedule no timer here and replay unchanged.
  if (status.slackMessage && !(await condition(() => verified, REVOCATION_LATE_AFTER))) {
    status.revocationLate = true;
    setCurrentDetails(`revocation late: still retrying (${cause})`);
    await message.refresh();
  }
  const checks = await revocation;
  status.revocationLate = undefined;

  const revokedAt = Date.now();
  status.revocation = {
    revokedAt: new Date(revokedAt).toISOString(),
    lagSeconds: Math.max(0, (revokedAt - windowEnd) / 1000),
    checks,
    cause,
    by,
  };
  setPhase(status, 'revoked', `revoked (${cause}); verified: ${checks.join('; ')}`);
}

function errorMessage(err: unknown): string {
  if (err instanceof TemporalFailure && err.cause) return errorMessage(err.cause);
  return err instanceof Error ? err.message : String(err);
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
