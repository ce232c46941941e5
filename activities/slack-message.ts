/**
 * The Slack message of an access request, rendered from the workflow's status: what is asked, why policy
 * allowed it, and the request's current state. Approve and Deny buttons appear only while it waits for approval.
 */
import type { KnownBlock } from '@slack/types';

import type { AccessRequestStatus } from '../workflows/definitions';

/** Action ids of the buttons; the Slack app listens for these. */
export const APPROVE_ACTION = 'jit_approve';
export const DENY_ACTION = 'jit_deny';

/** Callback id of the modal that asks a denier for the reason. */
export const DENY_MODAL = 'jit_deny_reason';

/** The message's fallback text and blocks. */
export interface RenderedMessage {
  text: string;
  blocks: KnownBlock[];
}

/** Renders the full message for the request's current state. */
export function renderRequestMessage(status: AccessRequestStatus): RenderedMessage {
  const line = stateLine(status);
  const decision = status.decisions[0];
  const reasons = decision ? decision.reasons.map((reason) => `• ${escape(reason)}`).join('\n') : 'no policy decision yet';

  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `Access request: ${status.entitlement}`.slice(0, 150) } },
    {
      type: 'section',
      fields: [
        field('Requester', status.requester),
        field('Entitlement', status.entitlement),
        field('Environment', status.environment),
        field('Duration', formatDuration(status.durationSeconds)),
        field('Ticket', status.ticket),
        field('Request id', status.requestId),
      ],
    },
    { type: 'section', text: { type: 'mrkdwn', text: `*Reason*\n${escape(status.reason)}` } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `*Policy*\n${reasons}`.slice(0, 3000) }] },
    { type: 'section', text: { type: 'mrkdwn', text: `*Status:* ${line}` } },
  ];
  if (status.phase === 'pending-approval') {
    blocks.push({
      type: 'actions',
      block_id: 'jit_vote',
      elements: [
        { type: 'button', action_id: APPROVE_ACTION, style: 'primary', value: status.requestId, text: { type: 'plain_text', text: 'Approve' } },
        { type: 'button', action_id: DENY_ACTION, style: 'danger', value: status.requestId, text: { type: 'plain_text', text: 'Deny' } },
      ],
    });
  }
  return { text: `Access request ${status.requestId} for ${status.entitlement}: ${plain(line)}`, blocks };
}

/** Renders the request's state as one line of Slack mrkdwn. */
export function stateLine(status: AccessRequestStatus): string {
  const approvals = status.votes.filter((vote) => vote.counted && vote.decision === 'approve').map((vote) => vote.approver);
  const by = approvals.length > 0 ? ` (approved by ${approvals.join(', ')})` : '';
  const quorum = status.decisions[0]?.approval?.quorum ?? 0;

  switch (status.phase) {
    case 'evaluating':
      return 'evaluating policy';
    case 'pending-approval':
      return `:hourglass: waiting for approval: ${approvals.length} of ${quorum}${by}, deadline ${status.approvalDeadline ?? 'unknown'}`;
    case 'issuing':
      return `:white_check_mark: approved${by}; issuing the credential`;
    case 'granted':
      return `:key: granted${by} until ${status.grant?.expiresAt ?? 'unknown'}`;
    case 'revoking':
      return status.revocationLate ? ':rotating_light: revocation late: still retrying' : 'revoking';
    case 'revoked': {
      const revocation = status.revocation;
      if (!revocation) return ':lock: revoked';
      const cause =
        revocation.cause === 'released'
          ? `released by ${revocation.by ?? 'the requester'}`
          : revocation.cause === 'revoked-by-operator'
            ? `revoked by ${revocation.by ?? 'an operator'}`
            : revocation.cause === 'window-ended'
              ? 'window ended'
              : 'cancelled';
      return `:lock: ${cause}; revoked and verified at ${revocation.revokedAt} (lag ${revocation.lagSeconds.toFixed(1)} s)`;
    }
    case 'denied':
      return `:no_entry: ${escape(status.outcome ?? 'denied')}`;
    case 'expired':
      return `:alarm_clock: expired: ${escape(status.outcome ?? 'approval deadline passed')}`;
    case 'failed':
      return `:x: failed: ${escape(status.outcome ?? 'unknown error')}`;
  }
}

function field(label: string, value: string) {
  return { type: 'mrkdwn' as const, text: `*${label}*\n${escape(value)}` };
}

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

/** Escapes the three characters Slack's mrkdwn treats as control characters. */
function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Drops the leading emoji code, which the notification text would show literally. */
function plain(mrkdwn: string): string {
  return mrkdwn.replace(/^:[a-z_]+: /, '');
}
