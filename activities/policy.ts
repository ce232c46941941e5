/**
 * The policy decision for an access request: the verified identity, the entitlement catalog, the time context
 * and the Cedar policies, combined into one recorded decision with every reason.
 */
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';

import type { ApprovalRule, PolicyDecision } from '../workflows/definitions';
import type { AccessRequest } from '../workflows/request';
import type { Catalog, Entitlement } from './catalog';
import { decide, type CedarRequest, type PolicyBundle } from './cedar';
import type { VerifiedIdentity } from './identity';
import { timeContext, type PolicySettings } from './policy-settings';

/** Everything a decision is made from; replaced as a whole when the files are reloaded. */
export interface PolicySources {
  catalog: Catalog;
  bundle: PolicyBundle;
  settings: PolicySettings;
}

/** The address used when a request reports none; it lies in no network a policy would allow. */
const UNKNOWN_ADDRESS = '0.0.0.0';

/**
 * Decides a request for an already verified identity. Never throws: an unknown entitlement, a condition that
 * fails or a policy that cannot be evaluated all deny, with the reason. `options.preparsed` is for the benchmark.
 */
export function evaluate(
  sources: PolicySources,
  request: AccessRequest,
  identity: VerifiedIdentity,
  stage: PolicyDecision['stage'],
  now: Date,
  options: { preparsed?: boolean } = {},
): PolicyDecision {
  const { catalog, bundle, settings } = sources;
  const base = {
    policyVersion: `policies ${bundle.version}, catalog ${catalog.version}`,
    decidedAt: now.toISOString(),
    stage,
    principal: identity.principal,
  };
  const reasons = [`PASS identity: ${identity.principal}, verified by ${identity.issuer}`];

  const entitlement = Object.hasOwn(catalog.entitlements, request.entitlement)
    ? catalog.entitlements[request.entitlement]
    : undefined;
  if (!entitlement) {
    const known = Object.keys(catalog.entitlements).join(', ') || 'none';
    reasons.push(`FAIL entitlement exists: ${request.entitlement} is not in the catalog (known: ${known})`);
    return { ...base, allow: false, reasons };
  }

  const time = timeContext(settings, now);
  reasons.push(
    `INFO time: ${time.weekday} ${String(time.hour).padStart(2, '0')}h ${settings.timeZone}, ` +
      (time.inChangeWindow ? `change window "${time.changeWindow}" open` : 'no change window open'),
  );
  if (!request.sourceIp) reasons.push(`INFO source address: not reported, so it matches no network`);

  const cedarRequest = toCedarRequest(request, identity, entitlement, time);
  const requestDecision = decide(bundle, cedarRequest, options);
  reasons.push(...requestDecision.reasons.map((reason) => prefixAction(reason, 'request')));
  if (!requestDecision.allow) return { ...base, allow: false, reasons };

  const approval = approvalRule(bundle, cedarRequest, entitlement, identity, reasons, options);
  if (!approval) return { ...base, allow: false, reasons };

  return {
    ...base,
    allow: true,
    reasons,
    approval,
    maxDurationSeconds: entitlement.maxDurationSeconds,
    vault: { mount: entitlement.vault.mount, templateRole: entitlement.vault.templateRole },
  };
}

/**
 * Returns how the request is approved: by policy when it permits `autoApprove`, otherwise by the catalog's
 * approvers other than the requester. Returns undefined, after adding the reason, when too few remain.
 */
function approvalRule(
  bundle: PolicyBundle,
  cedarRequest: CedarRequest,
  entitlement: Entitlement,
  identity: VerifiedIdentity,
  reasons: string[],
  options: { preparsed?: boolean },
): ApprovalRule | undefined {
  const { approval } = entitlement;
  const auto = decide(bundle, { ...cedarRequest, action: 'autoApprove' }, options);
  if (auto.allow) {
    reasons.push(...auto.reasons.map((reason) => prefixAction(reason, 'autoApprove')));
    return { autoApprove: true, approvers: [], quorum: 0, deadlineSeconds: approval.deadlineSeconds };
  }

  const eligible = approval.approvers.filter((approver) => approver !== identity.principal);
  if (eligible.length < approval.quorum) {
    reasons.push(
      `FAIL enough approvers: ${approval.quorum} approval(s) needed but only ${eligible.length} approver(s) other than the requester exist`,
    );
    return undefined;
  }
  reasons.push(`INFO approval: ${approval.quorum} of ${eligible.join(', ')} within ${approval.deadlineSeconds}s`);
  return { autoApprove: false, approvers: eligible, quorum: approval.quorum, deadlineSeconds: approval.deadlineSeconds };
}

/** Builds the Cedar request: the principal with its verified claims, the entitlement, and the context. */
export function toCedarRequest(
  request: AccessRequest,
  identity: VerifiedIdentity,
  entitlement: Entitlement,
  time: { weekday: string; hour: number; inChangeWindow: boolean },
): CedarRequest {
  const isPerson = identity.principal.startsWith('user:');
  const principal = { type: isPerson ? 'Jit::Person' : 'Jit::Workload', id: identity.principal };
  const kind = identity.principal.slice(0, identity.principal.indexOf(':'));
  const tags = Object.fromEntries(Object.entries(identity.claims).map(([key, value]) => [key, String(value)]));

  // People belong to the groups their token names; workloads carry their claims as tags.
  const principalEntities: EntityJson[] = isPerson
    ? [
        { uid: principal, attrs: { kind }, parents: identity.groups.map((group) => ({ type: 'Jit::Group', id: group })) },
        ...identity.groups.map((group) => ({ uid: { type: 'Jit::Group', id: group }, attrs: {}, parents: [] })),
      ]
    : [{ uid: principal, attrs: { kind, issuer: identity.issuer }, parents: [], tags }];
  const resource = { type: 'Jit::Entitlement', id: request.entitlement };

  const context: Record<string, unknown> = {
    environment: request.environment,
    sourceIp: { __extn: { fn: 'ip', arg: request.sourceIp ?? UNKNOWN_ADDRESS } },
    weekday: time.weekday,
    hour: time.hour,
    inChangeWindow: time.inChangeWindow,
    ticket: request.ticket,
    durationSeconds: request.durationSeconds,
    reason: request.reason,
  };
  if (request.task.step) context.workflowStep = request.task.step;

  return {
    principal,
    action: 'request',
    resource,
    context,
    entities: [
      ...principalEntities,
      {
        uid: resource,
        attrs: {
          environment: entitlement.environment,
          maxDurationSeconds: entitlement.maxDurationSeconds,
          backend: entitlement.vault.backend,
        },
        parents: [],
      },
    ],
  };
}

function prefixAction(reason: string, action: string): string {
  return reason.replace(/^(PASS|FAIL) /, `$1 ${action}/`);
}
