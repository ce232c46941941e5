/** Human-readable rendering of a request's status for the CLI and the demo. */
import type { AccessRequestStatus } from '../workflows/definitions';

/** Renders the status as indented lines: what, phase, decisions, votes, grant and revocation. */
export function formatStatus(status: AccessRequestStatus): string {
  const lines = [
    `${status.requestId}: ${status.phase}`,
    `  ${status.requester} -> ${status.entitlement} (${status.environment}) for ${status.durationSeconds}s, ticket ${status.ticket}`,
    `  reason: ${status.reason}`,
  ];
  for (const decision of status.decisions) {
    lines.push(`  policy at ${decision.stage}: ${decision.allow ? 'allow' : 'deny'} (${decision.policyVersion}, ${decision.decidedAt})`);
    for (const reason of decision.reasons) lines.push(`    ${reason}`);
  }
  if (status.approvalDeadline) lines.push(`  approval deadline: ${status.approvalDeadline}`);
  for (const vote of status.votes) {
    const verdict = vote.counted ? 'counted' : `not counted: ${vote.rejectedBecause}`;
    const via = vote.via ? ` via ${vote.via}` : '';
    lines.push(`  ${vote.decision} by ${vote.approver}${via} at ${vote.at}: ${verdict}${vote.reason ? ` (${vote.reason})` : ''}`);
  }
  if (status.grant) {
    lines.push(`  granted: user ${status.grant.username}, lease ${status.grant.leaseId}`);
    lines.push(`  window: ${status.grant.issuedAt} to ${status.grant.expiresAt}`);
  }
  if (status.revocation) {
    const { revocation } = status;
    // The lag counts from the window's end, or from the release or revoke when that came first.
    const endedBy = revocation.by ? `${revocation.cause} by ${revocation.by}` : revocation.cause;
    const from = revocation.cause === 'window-ended' ? 'the window' : `the ${revocation.cause === 'released' ? 'release' : 'revoke'}`;
    lines.push(`  revoked at ${revocation.revokedAt} (${endedBy}), ${revocation.lagSeconds.toFixed(1)}s after ${from}`);
    for (const check of revocation.checks) lines.push(`    verified: ${check}`);
  }
  if (status.outcome) lines.push(`  outcome: ${status.outcome}`);
  return lines.join('\n');
}
