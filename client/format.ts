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
    lines.push(`  ${vote.decision} by ${vote.approver} at ${vote.at}: ${verdict}${vote.reason ? ` (${vote.reason})` : ''}`);
  }
  if (status.grant) {
    lines.push(`  granted: user ${status.grant.username}, lease ${status.grant.leaseId}`);
    lines.push(`  window: ${status.grant.issuedAt} to ${status.grant.expiresAt}`);
  }
  if (status.revocation) {
    const { revocation } = status;
    lines.push(`  revoked at ${revocation.revokedAt} (${revocation.cause}), ${revocation.lagSeconds.toFixed(1)}s after the window`);
    for (const check of revocation.checks) lines.push(`    verified: ${check}`);
  }
  if (status.outcome) lines.push(`  outcome: ${status.outcome}`);
  return lines.join('\n');
}
