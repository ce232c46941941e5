/**
 * Casting a vote on a pending request, for the CLI and the Slack app alike: one update whose answer says
 * whether the vote counted, and if not, why. The workflow applies every rule; this module only turns
 * Temporal's errors into answers an approver can read.
 */
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';

import { statusQuery, voteUpdate, type Phase, type VoteInput, type VoteResult } from '../workflows/definitions';

/** The outcome of a vote: the workflow's result, or a rejection that never reached the ballot. */
export type VoteAnswer =
  | ({ accepted: true } & VoteResult)
  | {
      accepted: false;
      /** A sentence for the voter, such as `the request is granted, not waiting for approval`. */
      reason: string;
      /** The request's phase when it is known. */
      phase?: Phase;
    };

/**
 * Sends `input` to the request's vote update and waits for the result. `updateId` makes delivery idempotent:
 * a second call with the same id, say a redelivered Slack click, returns the first result and records nothing.
 */
export async function castVote(client: Client, requestId: string, input: VoteInput, options: { updateId?: string } = {}): Promise<VoteAnswer> {
  const handle = client.workflow.getHandle(requestId);
  try {
    const result = await handle.executeUpdate(voteUpdate, { args: [input], updateId: options.updateId });
    return { accepted: true, ...result };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      return { accepted: false, reason: err.cause?.message ?? err.message };
    }
    if (err instanceof WorkflowNotFoundError || isCompleted(err)) {
      return { accepted: false, ...(await endedRequest(client, requestId)) };
    }
    throw err;
  }
}

/** Describes a request that no longer takes votes: ended, or never existed. */
async function endedRequest(client: Client, requestId: string): Promise<{ reason: string; phase?: Phase }> {
  try {
    const status = await client.workflow.getHandle(requestId).query(statusQuery);
    return { reason: `request ${requestId} has ended (${status.phase}); votes no longer count`, phase: status.phase };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { reason: `request ${requestId} was not found; check the request id` };
    return { reason: `request ${requestId} has ended; votes no longer count` };
  }
}

/** Temporal reports an update sent to a closed workflow with this gRPC message. */
function isCompleted(err: unknown): boolean {
  return err instanceof Error && /workflow execution already completed/i.test(err.message);
}
