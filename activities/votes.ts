/**
 * Judging a voter: verify the identity token of a vote, then ask policy whether that person may approve this
 * request now. The workflow records the result and applies the rules that need its own state (the request is
 * still waiting, the approver has not voted before).
 */
import { Context } from '@temporalio/activity';

import type { VoteInput } from '../workflows/definitions';
import { IdentityError } from './identity';
import { judgeApprover } from './policy';
import type { PolicyStore } from './policy-store';

/** The claim that binds a vote token to one request; the Slack app sets it on every token it mints. */
export const VOTE_REQUEST_CLAIM = 'jit_request';

/** The claim that binds a vote token to one decision, approve or deny. */
export const VOTE_DECISION_CLAIM = 'jit_decision';

/** The input of judgeVoter: the vote's token and decision, and the request it is cast on. */
export interface JudgeVoterInput {
  identityToken: string;
  decision: VoteInput['decision'];
  requestId: string;
  entitlement: string;
  requester: string;
}

/** The verified voter and whether the vote may count. `rejectedBecause` is absent when it may. */
export interface VoterJudgement {
  /** The verified principal, or `unverified` when the token was rejected. */
  approver: string;
  rejectedBecause?: string;
  policyReasons?: string[];
}

/** Creates the voter-judging activity over the policy files in force. */
export function createVoteActivities(policy: PolicyStore) {
  return {
    /** Verifies the vote's token and decides the voter's eligibility under current policy. Never throws for a rejection. */
    async judgeVoter(input: JudgeVoterInput): Promise<VoterJudgement> {
      const sources = policy.sources;
      let identity;
      try {
        identity = await sources.identity.verify(input.identityToken);
      } catch (err) {
        if (!(err instanceof IdentityError)) throw err;
        return { approver: 'unverified', rejectedBecause: `the identity token was rejected: ${err.message}` };
      }

      const boundRequest = identity.claims[VOTE_REQUEST_CLAIM];
      if (boundRequest !== undefined && boundRequest !== input.requestId) {
        return { approver: identity.principal, rejectedBecause: `the vote token was issued for request ${String(boundRequest)}, not this one` };
      }
      const boundDecision = identity.claims[VOTE_DECISION_CLAIM];
      if (boundDecision !== undefined && boundDecision !== input.decision) {
        return { approver: identity.principal, rejectedBecause: `the vote token was issued to ${String(boundDecision)}, not to ${input.decision}` };
      }
      if (identity.principal === input.requester) {
        return { approver: identity.principal, rejectedBecause: 'the requester cannot approve or deny its own request' };
      }

      const judgement = judgeApprover(sources, identity.principal, identity.groups, input.entitlement, input.requester);
      Context.current().log.info('voter judged', {
        requestId: input.requestId,
        approver: identity.principal,
        eligible: judgement.eligible,
      });
      if (!judgement.eligible) {
        const failed = judgement.reasons.filter((reason) => reason.startsWith('FAIL')).join('; ');
        return {
          approver: identity.principal,
          rejectedBecause:
            `${identity.principal} may not approve ${input.entitlement} under the current policy (${failed}); ` +
            "the policy's approve rules and the approver's groups in the approver directory decide who may",
          policyReasons: judgement.reasons,
        };
      }
      return { approver: identity.principal, policyReasons: judgement.reasons };
    },
  };
}
