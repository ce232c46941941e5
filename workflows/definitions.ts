/**
 * Signals, queries, search attributes and the state shapes shared by the access-request workflow, its
 * activities and its clients. Importing this module starts no workflow code, so clients may use it directly.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The workflow type name that clients start and list. */
export const ACCESS_REQUEST_WORKFLOW = 'accessRequest';

/** The workflow type name of the reconciler, which a schedule starts. */
export const RECONCILE_WORKFLOW = 'reconcileLeases';

/** The task queue the worker polls unless JIT_TASK_QUEUE sets another. */
export const DEFAULT_TASK_QUEUE = 'jit-access';

/**
 * Lifecycle phases, in order. `denied`, `expired`, `revoked` and `failed` are final.
 * `revoked` is reached only after the revocation was verified by a read-back.
 */
export type Phase =
  | 'evaluating'
  | 'pending-approval'
  | 'issuing'
  | 'granted'
  | 'revoking'
  | 'revoked'
  | 'denied'
  | 'expired'
  | 'failed';

export const FINAL_PHASES: readonly Phase[] = ['revoked', 'denied', 'expired', 'failed'];

/** The approval rule of a request: eligible approvers, distinct approvals needed, and the deadline. */
export interface ApprovalRule {
  /** True when policy lets the request skip human approval. */
  autoApprove: boolean;
  /**
   * Approvers policy allowed when the request was decided, such as `user:alice`; the requester is never one.
   * Each vote is judged again under the policy in force when it arrives.
   */
  approvers: string[];
  /** Distinct eligible approvals required. */
  quorum: number;
  /** Seconds the request waits for its quorum before it expires. */
  deadlineSeconds: number;
  /** Approver groups asked first. Absent in decisions recorded before approver groups existed. */
  groups?: string[];
  /** Seconds after the request at which pending approvers are reminded. */
  reminderAfterSeconds?: number;
  /** A second group asked when the first has not decided in time. */
  escalation?: { afterSeconds: number; groups: string[] };
  /**
   * The approvers reached only through the escalation groups; they are mentioned at the escalation, the
   * others at the request and the reminder.
   */
  escalationApprovers?: string[];
  /** Slack channel id for the approval message; the Slack default channel when absent. */
  slackChannel?: string;
}

/** The Vault mount and template role that issue an entitlement's credential. */
export interface VaultTarget {
  /** Mount path of the database secrets engine, such as `database`. */
  mount: string;
  /** The role whose creation and revocation statements each grant copies. */
  templateRole: string;
}

/** The identity a verified token proves: who the requester is, and the claims policy may use. */
export interface VerifiedIdentity {
  /** `kind:name`, such as `ci:acme/orders-deploy` or `user:alice`. */
  principal: string;
  issuer: string;
  subject: string;
  /** String, number and boolean claims of the token; nested claims are dropped. */
  claims: Record<string, string | number | boolean>;
  /** The token's `groups` claim, when it is a list of strings (common for people's tokens). */
  groups: string[];
}

/** One policy evaluation, kept in the workflow history as an activity result and exposed by the status query. */
export interface PolicyDecision {
  allow: boolean;
  /** The verified requester; absent when the identity token was rejected. */
  principal?: string;
  /** The verified identity, kept so that the issue-time check needs no token, which may have expired by then. */
  identity?: VerifiedIdentity;
  /** Why: one line per rule, each saying whether it passed. */
  reasons: string[];
  /** Content hash of the catalog the decision was made with. */
  policyVersion: string;
  /** When the decision was made, as an ISO 8601 timestamp. */
  decidedAt: string;
  /** `request` before approval, `issue` just before the credential is created. */
  stage: 'request' | 'issue';
  /** Present only on allow. */
  approval?: ApprovalRule;
  /** The maximum window this entitlement grants, in seconds. Present only on allow. */
  maxDurationSeconds?: number;
  /** Present only on allow. */
  vault?: VaultTarget;
}

/** A vote as a signal carried it. Signals carry no identity proof, so current workflows record and reject them. */
export interface ApprovalVote {
  approver: string;
  /** Required for a denial, optional for an approval. */
  reason?: string;
}

/** The input of the vote update: the decision and the voter's identity token. */
export interface VoteInput {
  decision: 'approve' | 'deny';
  /**
   * A compact JWT from a configured issuer proving who votes: a person's OIDC token for the CLI, or the token the
   * Slack app mints for a verified click. A token with a `jit_request` claim counts only for that request.
   */
  identityToken: string;
  /** Required for a denial, optional for an approval. */
  reason?: string;
  /** The vote's source, kept in the record. */
  via: 'slack' | 'cli' | 'api';
}

/** The result of a vote, returned to the voter at once. */
export interface VoteResult {
  counted: boolean;
  /** The reason the vote did not count. Absent when it counted. */
  rejectedBecause?: string;
  /** The verified voter; `unverified` when the token was rejected. */
  approver: string;
  phase: Phase;
  approvals: number;
  quorum: number;
}

/** A vote as the workflow recorded it, with the reason it did or did not count. */
export interface RecordedVote extends ApprovalVote {
  decision: 'approve' | 'deny';
  counted: boolean;
  /** The reason a vote was not counted; absent when it counted. */
  rejectedBecause?: string;
  at: string;
  /** The vote's source. Absent for signals. */
  via?: VoteInput['via'];
  /** The policy reasons that made the voter eligible or not, when policy was asked. */
  policyReasons?: string[];
}

/** The location of the request's Slack message, so later edits replace it and replies go to its thread. */
export interface SlackMessageRef {
  channel: string;
  ts: string;
}

/**
 * The workflow's record of the credential it issued. It never contains the secret itself: the password
 * travels to the requester inside a single-use Vault wrapping token.
 */
export interface GrantRecord {
  leaseId: string;
  /** The database user Vault created; not a secret, and needed to audit sessions. */
  username: string;
  /** The per-grant Vault role that carries this grant's TTL. */
  vaultRole: string;
  /** Single-use Vault response-wrapping token for `{ username, password }`; it expires with the window. */
  wrappingToken: string;
  issuedAt: string;
  /** When Vault itself ends the lease. Never later than the approved window. */
  expiresAt: string;
}

/** The outcome of revocation, recorded after a read-back. */
export interface RevocationRecord {
  revokedAt: string;
  /** Seconds between the end of the window (or the release) and the verified revocation. */
  lagSeconds: number;
  /** The read-back checks that passed, such as `Vault lease lookup: no live lease`. */
  checks: string[];
  /** The event that ended the window. */
  cause: 'window-ended' | 'released' | 'revoked-by-operator' | 'cancelled';
  /** The identity that released or revoked, for those two causes. */
  by?: string;
}

/** The result of the `status` query. */
export interface AccessRequestStatus {
  requestId: string;
  phase: Phase;
  requester: string;
  entitlement: string;
  environment: string;
  durationSeconds: number;
  reason: string;
  ticket: string;
  decisions: PolicyDecision[];
  votes: RecordedVote[];
  approvalDeadline?: string;
  grant?: GrantRecord;
  revocation?: RevocationRecord;
  /** A one-line explanation of a final phase other than `revoked`. */
  outcome?: string;
  /** The approval message in Slack, when one was posted. */
  slackMessage?: SlackMessageRef;
  /** Set while revocation keeps failing; cleared by a verified revocation. */
  revocationLate?: boolean;
}

/**
 * Names the per-grant Vault role. Derived from the workflow id, so every retry of issuance, every revocation and
 * the reconciler address the same role and its leases. The `jit-` prefix is what the worker's Vault policy
 * allows.
 */
export function grantRoleName(requestId: string): string {
  const name = requestId.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  return (name.startsWith('jit-') ? name : `jit-${name}`).slice(0, 100);
}

/**
 * Cast a vote and get the result at once. The validator rejects a vote that cannot count for any voter: the
 * request is not waiting for approval, or a denial has no reason. The handler verifies the identity token, asks
 * policy whether the voter may approve now, and records the vote. Give each delivery an update id derived from
 * its source, such as Slack's action timestamp, so a redelivery returns the first result.
 */
export const voteUpdate = defineUpdate<VoteResult, [VoteInput]>('vote');

/**
 * The approval signal of workflows started before the vote update existed. Current workflows record such a
 * signal as not counted, because it carries a name and no proof of identity.
 */
export const approveSignal = defineSignal<[ApprovalVote]>('approve');

/** The denial signal of workflows started before the vote update existed; see approveSignal. */
export const denySignal = defineSignal<[ApprovalVote]>('deny');

/** The requester has finished the task: revoke now instead of at the end of the window. */
export const releaseSignal = defineSignal<[{ by: string }]>('release');

/** An operator ends the grant, or the pending request, immediately. */
export const revokeSignal = defineSignal<[{ by: string; reason: string }]>('revoke');

/** The full state of the request, returned from memory, so it is cheap to poll. */
export const statusQuery = defineQuery<AccessRequestStatus>('status');

export const requesterKey = defineSearchAttributeKey('JitRequester', SearchAttributeType.KEYWORD);
export const entitlementKey = defineSearchAttributeKey('JitEntitlement', SearchAttributeType.KEYWORD);
export const environmentKey = defineSearchAttributeKey('JitEnvironment', SearchAttributeType.KEYWORD);
export const phaseKey = defineSearchAttributeKey('JitStatus', SearchAttributeType.KEYWORD);

/** The custom search attributes the Temporal namespace must have, as `name=Type` for `temporal` flags. */
export const SEARCH_ATTRIBUTES = ['JitRequester', 'JitEntitlement', 'JitEnvironment', 'JitStatus'].map(
  (name) => `${name}=Keyword`,
);
