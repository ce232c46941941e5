/**
 * The first rule set: checks over the request and the entitlement catalog. Every rule runs, so a denial lists
 * each condition that failed, not only the first. Any rule that throws denies.
 */
import type { PolicyDecision } from '../workflows/definitions';
import type { AccessRequest } from '../workflows/request';
import type { Catalog, Entitlement } from './catalog';

/** One named condition; returns undefined when it holds, or why it does not. */
interface Rule {
  name: string;
  check(request: AccessRequest, entitlement: Entitlement): string | undefined;
}

const RULES: readonly Rule[] = [
  {
    name: 'requester may request this entitlement',
    check: (request, entitlement) =>
      entitlement.requesters.some((pattern) => matchesIdentity(pattern, request.requester))
        ? undefined
        : `${request.requester} is not among the entitlement's requesters (${entitlement.requesters.join(', ')})`,
  },
  {
    name: 'environment matches',
    check: (request, entitlement) =>
      request.environment === entitlement.environment
        ? undefined
        : `environment ${request.environment} does not match the entitlement's environment ${entitlement.environment}`,
  },
  {
    name: 'duration within the maximum',
    check: (request, entitlement) =>
      request.durationSeconds <= entitlement.maxDurationSeconds
        ? undefined
        : `requested ${request.durationSeconds}s exceeds the maximum of ${entitlement.maxDurationSeconds}s`,
  },
  {
    name: 'reason given',
    check: (request) => (request.reason.trim().length >= 10 ? undefined : 'the reason is missing or too short'),
  },
  {
    name: 'ticket given',
    check: (request) => (request.ticket ? undefined : 'no ticket id was given'),
  },
];

/**
 * Evaluates the request against the catalog. Never throws: an unknown entitlement or a failing rule becomes a
 * deny with the reason, so policy fails closed.
 */
export function evaluate(catalog: Catalog, request: AccessRequest, stage: PolicyDecision['stage'], now: Date): PolicyDecision {
  const base = { policyVersion: catalog.version, decidedAt: now.toISOString(), stage };

  const entitlement = Object.hasOwn(catalog.entitlements, request.entitlement)
    ? catalog.entitlements[request.entitlement]
    : undefined;
  if (!entitlement) {
    const known = Object.keys(catalog.entitlements).join(', ') || 'none';
    return {
      ...base,
      allow: false,
      reasons: [`FAIL entitlement exists: ${request.entitlement} is not in the catalog (known: ${known})`],
    };
  }

  const reasons = [`PASS entitlement exists: ${request.entitlement}`];
  let allow = true;
  for (const rule of RULES) {
    let failure: string | undefined;
    try {
      failure = rule.check(request, entitlement);
    } catch (err) {
      failure = `the rule could not be evaluated: ${(err as Error).message}`;
    }
    if (failure === undefined) {
      reasons.push(`PASS ${rule.name}`);
    } else {
      allow = false;
      reasons.push(`FAIL ${rule.name}: ${failure}`);
    }
  }
  if (!allow) return { ...base, allow, reasons };

  const { approval } = entitlement;
  const eligible = approval.approvers.filter((approver) => approver !== request.requester);
  if (!approval.autoApprove && eligible.length < approval.quorum) {
    reasons.push(
      `FAIL enough approvers: ${approval.quorum} approval(s) needed but only ${eligible.length} approver(s) other than the requester exist`,
    );
    return { ...base, allow: false, reasons };
  }
  reasons.push(
    approval.autoApprove
      ? 'INFO approval: automatic under this entitlement'
      : `INFO approval: ${approval.quorum} of ${approval.approvers.join(', ')} within ${approval.deadlineSeconds}s`,
  );
  return {
    ...base,
    allow,
    reasons,
    approval: {
      autoApprove: approval.autoApprove,
      approvers: eligible,
      quorum: approval.quorum,
      deadlineSeconds: approval.deadlineSeconds,
    },
    maxDurationSeconds: entitlement.maxDurationSeconds,
    vault: { ...entitlement.vault },
  };
}

/** Matches an identity against an exact identity or a `prefix*` pattern. */
export function matchesIdentity(pattern: string, identity: string): boolean {
  return pattern.endsWith('*') ? identity.startsWith(pattern.slice(0, -1)) : pattern === identity;
}
