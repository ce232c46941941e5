/**
 * The approval stage of an access request: the vote update and the legacy vote signals, the rules a vote must
 * pass to count, and the wait for a quorum with its reminder, escalation and deadline.
 *
 * The workflow enforces every rule itself, so nothing a Slack payload or a CLI call claims can bypass them.
 * A vote counts only when its identity token verifies, policy allows that person to approve at the moment the
 * vote arrives, the person is not the requester and has not voted before, and the request is still waiting.
 */
import { condition, log, proxyActivities } from '@temporalio/workflow';

import type { Activities } from '../activities';
import {
  type AccessRequestStatus,
  type ApprovalRule,
  type ApprovalVote,
  type RecordedVote,
  type VoteInput,
  type VoteResult,
} from './definitions';
import { identitySchema } from './request';

/** Checking a voter is a quick local decision; a vote waits at most this long for it. */
const { judgeVoter } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '2 seconds', maximumAttempts: 3 },
});

/** The outcome of the wait for approval. */
export type ApprovalOutcome =
  | { kind: 'approved' }
  | { kind: 'denied'; by: ApprovalVote }
  | { kind: 'withdrawn' }
  | { kind: 'expired' };

/** A reminder or escalation, run once when the request is still undecided at `at` (epoch milliseconds). */
export interface ApprovalStep {
  at: number;
  run(): Promise<void>;
}

/**
 * The votes of one request. `verified` selects the rules: true for requests started by this code, false when
 * replaying a history recorded before votes carried identity tokens, where a signal named its approver and
 * eligibility was the approver list of the recorded decision.
 */
export class Ballot {
  readonly approvedBy = new Set<string>();
  deniedBy: ApprovalVote | undefined;

  constructor(
    private readonly status: AccessRequestStatus,
    private readonly rule: ApprovalRule,
    private readonly verified: boolean,
    /** Called after each counted vote, so the Slack message can show the approvals so far. */
    private readonly onCounted: () => Promise<void>,
  ) {}

  /** Handles a legacy approve or deny signal. Under verified rules it is recorded and never counts. */
  castBySignal(decision: 'approve' | 'deny', vote: ApprovalVote): void {
    const rejection = this.verified
      ? 'a signal carries no proof of identity; vote with "jit approve" or the Slack buttons'
      : this.legacyRejection(decision, vote);
    this.record({ decision, approver: String(vote?.approver), reason: vote?.reason, counted: !rejection, rejectedBecause: rejection });
    if (!rejection) this.count(decision, vote);
  }

  /**
   * Rejects, before anything is recorded, a vote that cannot count for any voter. Runs in the update
   * validator, so it must not block or change state.
   */
  validate(input: VoteInput): void {
    if (input?.decision !== 'approve' && input?.decision !== 'deny') throw new Error('decision must be "approve" or "deny"');
    if (typeof input.identityToken !== 'string' || input.identityToken.length === 0) {
      throw new Error('identityToken is missing: pass the approver\'s identity token');
    }
    if (this.status.phase !== 'pending-approval') throw new Error(this.notWaiting());
    if (input.decision === 'deny' && !input.reason?.trim()) throw new Error('a denial needs a reason; give one with the vote');
  }

  /** Handles the vote update: verifies the voter under current policy, then counts or records the rejection. */
  async castByUpdate(input: VoteInput): Promise<VoteResult> {
    const voter = await judgeVoter({
      identityToken: input.identityToken,
      decision: input.decision,
      requestId: this.status.requestId,
      entitlement: this.status.entitlement,
      requester: this.status.requester,
    });

    // The checks after the activity see the state as it is now: another vote may have decided the request
    // while this one was being verified.
    let rejection = voter.rejectedBecause;
    if (!rejection && this.status.phase !== 'pending-approval') rejection = this.notWaiting();
    if (!rejection && input.decision === 'approve' && this.approvedBy.has(voter.approver)) {
      rejection = `${voter.approver} has already approved`;
    }

    const vote = { approver: voter.approver, reason: input.reason };
    this.record({
      decision: input.decision,
      ...vote,
      counted: !rejection,
      rejectedBecause: rejection,
      via: input.via,
      policyReasons: voter.policyReasons,
    });
    if (!rejection) {
      this.count(input.decision, vote);
      await this.onCounted();
    }
    return {
      counted: !rejection,
      rejectedBecause: rejection,
      approver: voter.approver,
      phase: this.status.phase,
      approvals: this.approvedBy.size,
      quorum: this.rule.quorum,
    };
  }

  /**
   * Waits until the quorum is reached, a denial counts, `withdrawn()` turns true or the deadline passes. Each
   * step runs once at its time if the request is still undecided then.
   */
  async waitForDecision(deadline: number, steps: ApprovalStep[], withdrawn: () => boolean): Promise<ApprovalOutcome> {
    const decided = () => this.approvedBy.size >= this.rule.quorum || this.deniedBy !== undefined || withdrawn();
    for (const step of [...steps].sort((a, b) => a.at - b.at)) {
      if (step.at >= deadline) continue;
      if (await condition(decided, Math.max(step.at - Date.now(), 1))) break;
      await step.run();
    }
    const inTime = decided() || (await condition(decided, Math.max(deadline - Date.now(), 1)));

    if (this.deniedBy) return { kind: 'denied', by: this.deniedBy };
    if (withdrawn()) return { kind: 'withdrawn' };
    return inTime ? { kind: 'approved' } : { kind: 'expired' };
  }

  private count(decision: 'approve' | 'deny', vote: ApprovalVote): void {
    if (decision === 'approve') this.approvedBy.add(vote.approver);
    else this.deniedBy ??= vote;
  }

  private record(vote: Omit<RecordedVote, 'at'>): void {
    const reason = typeof vote.reason === 'string' ? vote.reason.slice(0, 500) : undefined;
    this.status.votes.push({ ...vote, reason, at: new Date().toISOString() });
    if (vote.rejectedBecause) {
      log.warn('vote not counted', { requestId: this.status.requestId, approver: vote.approver, rejection: vote.rejectedBecause });
    }
  }

  private notWaiting(): string {
    return this.status.phase === 'evaluating'
      ? 'the request is still being evaluated; vote once it waits for approval'
      : `the request is ${this.status.phase}, not waiting for approval`;
  }

  /** Applies the rules of histories recorded before votes carried identity tokens, so those histories replay. */
  private legacyRejection(decision: 'approve' | 'deny', vote: ApprovalVote): string | undefined {
    if (!identitySchema.safeParse(vote?.approver).success) return 'the vote carries no valid approver identity (KIND:NAME)';
    if (this.status.phase !== 'pending-approval') return `the request is ${this.status.phase}, not waiting for approval`;
    if (vote.approver === this.status.requester) return 'the requester cannot approve or deny its own request';
    if (!this.rule.approvers.includes(vote.approver)) return `${vote.approver} is not an eligible approver for ${this.status.entitlement}`;
    if (decision === 'approve' && this.approvedBy.has(vote.approver)) return `${vote.approver} has already approved`;
    if (decision === 'deny' && !vote.reason?.trim()) return 'a denial needs a reason';
    return undefined;
  }
}
