/**
 * The policy decision for an access request: the verified identity, the entitlement catalog, the time context
 * and the Cedar policies, combined into one recorded decision with every reason.
 */
import type { EntityJson } from '@cedar-policy/cedar-wasm/nodejs';

import type { ApprovalRule, PolicyDecision } from '../workflows/definitions';
import type { AccessRequest } from '../workflows/request';
import type { Catalog, Entitlement } from './catalog';
import { decide, type CedarRequest, type PolicyBundle } from './cedar';
import type { ApproverDirectory } from './directory';
import type { VerifiedIdentity } from './identity';
import { timeContext, type PolicySettings } from './policy-settings';

/** Everything a decision is made from; replaced as a whole when the files are reloaded. */
export interface PolicySources {
  catalog: Catalog;
  bundle: PolicyBundle;
  settings: PolicySettings;
  directory: ApproverDirectory;
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

  const approval = approvalRule(sources, cedarRequest, entitlement, identity, reasons, options);
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
 * Returns how the request is approved: by policy when it permits `autoApprove`, otherwise by the members of the
 * entitlement's approver groups (and escalation groups) whom policy allows to approve, the requester excluded.
 * Returns undefined, after adding the reason, when fewer than the quorum remain.
 */
function approvalRule(
  sources: PolicySources,
  cedarRequest: CedarRequest,
  entitlement: Entitlement,
  identity: VerifiedIdentity,
  reasons: string[],
  options: { preparsed?: boolean },
): ApprovalRule | undefined {
  const { approval } = entitlement;
  const auto = decide(sources.bundle, { ...cedarRequest, action: 'autoApprove' }, options);
  if (auto.allow) {
    reasons.push(...auto.reasons.map((reason) => prefixAction(reason, 'autoApprove')));
    return { autoApprove: true, approvers: [], quorum: 0, deadlineSeconds: approval.deadlineSeconds };
  }

  const groups = [...approval.groups, ...(approval.escalation?.groups ?? [])];
  const inGroups = (approver: string, wanted: readonly string[]) => sources.directory.groupsOf(approver).some((group) => wanted.includes(group));
  const eligible = sources.directory
    .membersOf(groups)
    .filter((approver) => approver !== identity.principal)
    .filter((approver) => judgeApprover(sources, approver, [], cedarRequest.resource.id, identity.principal, options).eligible);
  if (eligible.length < approval.quorum) {
    reasons.push(
      `FAIL enough approvers: ${approval.quorum} approval(s) needed but policy allows only ${eligible.length} member(s) of ` +
        `${groups.join(', ')} other than the requester to approve`,
    );
    return undefined;
  }
  const escalationOnly = approval.escalation ? eligible.filter((approver) => !inGroups(approver, approval.groups)) : [];
  const firstAsked = eligible.filter((approver) => !escalationOnly.includes(approver));
  const escalation = escalationOnly.length > 0 ? ` (escalation after ${approval.escalation!.afterSeconds}s: ${escalationOnly.join(', ')})` : '';
  reasons.push(`INFO approval: ${approval.quorum} of ${firstAsked.join(', ')}${escalation} within ${approval.deadlineSeconds}s`);
  return {
    autoApprove: false,
    approvers: eligible,
    quorum: approval.quorum,
    deadlineSeconds: approval.deadlineSeconds,
    groups: approval.groups,
    reminderAfterSeconds: approval.reminderAfterSeconds,
    escalation: approval.escalation,
    escalationApprovers: approval.escalation ? escalationOnly : undefined,
    slackChannel: approval.slackChannel,
  };
}

/** Whether policy lets a person approve a request, and the reasons. */
export interface ApproverDecision {
  eligible: boolean;
  reasons: string[];
}

/**
 * Asks policy whether `approver` may approve `requester`'s request for `entitlement` now: the Cedar `approve`
 * action, with the approver in its directory groups and in `tokenGroups`. Never throws; anything that cannot be
 * evaluated is not eligible. Only people (`user:` identities) approve, and never their own request.
 */
export function judgeApprover(
  sources: PolicySources,
  approver: string,
  tokenGroups: readonly string[],
  entitlement: string,
  requester: string,
  options: { preparsed?: boolean } = {},
): ApproverDecision {
  if (!approver.startsWith('user:')) return { eligible: false, reasons: [`FAIL approver kind: ${approver} is not a person (user:NAME)`] };
  if (approver === requester) return { eligible: false, reasons: ['FAIL approver is not the requester'] };

  const groups = [...new Set([...sources.directory.groupsOf(approver), ...tokenGroups])];
  const principal = { type: 'Jit::Person', id: approver };
  const resource = { type: 'Jit::Entitlement', id: entitlement };
  const catalogEntry = Object.hasOwn(sources.catalog.entitlements, entitlement) ? sources.catalog.entitlements[entitlement] : undefined;
  if (!catalogEntry) return { eligible: false, reasons: [`FAIL entitlement exists: ${entitlement} is not in the catalog`] };

  const decision = decide(
    sources.bundle,
    {
      principal,
      action: 'approve',
      resource,
      context: { requester },
      entities: [
        { uid: principal, attrs: { kind: 'user' }, parents: groups.map((group) => ({ type: 'Jit::Group', id: group })) },
        ...groups.map((group) => ({ uid: { type: 'Jit::Group', id: group }, attrs: {}, parents: [] })),
        {
          uid: resource,
          attrs: {
            environment: catalogEntry.environment,
            maxDurationSeconds: catalogEntry.maxDurationSeconds,
            backend: catalogEntry.vault.backend,
          },
          parents: [],
        },
      ],
    },
    options,
  );
  return { eligible: decision.allow, reasons: decision.reasons.map((reason) => prefixAction(reason, 'approve')) };
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
