/**
 * The access request as a service submits it, and the zod schema that checks it.
 *
 * This module is pure data and validation, so it is safe to import from the workflow sandbox, activities and
 * clients alike. The workflow validates its input again even when the client already did, because a workflow
 * can be started by any Temporal client, not only this project's SDK.
 */
import { z } from 'zod';

/** Identifiers such as entitlement and environment names: lowercase words joined by dashes. */
const slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use 1 to 63 lowercase letters, digits or dashes, starting with a letter or digit');

/**
 * Ticket ids in the usual tracker form, such as `OPS-1234` or `CHG-42`.
 * Ticket existence is not checked here: that belongs to a ticket-system policy input.
 */
const ticketId = z
  .string()
  .regex(/^[A-Z][A-Z0-9]{1,15}-[0-9]{1,10}$/, 'use a tracker id such as OPS-1234');

/**
 * A requester or approver identity, such as `ci:deploy-pipeline`, `user:alice` or
 * `spiffe:spiffe://example.org/ns/payments/sa/api`. The kind ends at the first colon.
 */
export const identitySchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]*:[A-Za-z0-9._@/:-]{1,200}$/,
    'use KIND:NAME, such as ci:deploy-pipeline or user:alice',
  );

/** The maximum window of any request; entitlements set their own, lower maximum. */
export const MAX_WINDOW_SECONDS = 12 * 60 * 60;

export const accessRequestSchema = z
  .object({
    /**
     * The requester's identity proof: a compact OIDC JWT from a configured issuer (GitHub Actions, a Kubernetes
     * service account, a SPIFFE JWT-SVID, an internal issuer). The verified token, not the caller, determines
     * who the requester is.
     */
    identityToken: z
      .string()
      .max(16_384, 'identityToken must be at most 16384 characters')
      .regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/, 'identityToken must be a compact JWT (header.payload.signature)'),
    /** The entitlement name from the catalog, such as `orders-db-readwrite`. */
    entitlement: slug,
    /** The environment the requester reports it runs in; policy compares it with the entitlement's. */
    environment: slug,
    /**
     * The address the request comes from, as the SDK reports it. Policy may require a network, such as the CI
     * runners' range. NOTE: the requester supplies it; only a gateway in front of Temporal could attest it.
     */
    sourceIp: z.union([z.ipv4(), z.ipv6()], { message: 'sourceIp must be an IPv4 or IPv6 address' }).optional(),
    /** Requested task window in seconds, counted from the moment the credential is issued. */
    durationSeconds: z
      .number()
      .int('durationSeconds must be a whole number of seconds')
      .min(1, 'durationSeconds must be at least 1')
      .max(MAX_WINDOW_SECONDS, `durationSeconds must be at most ${MAX_WINDOW_SECONDS} (12 hours)`),
    /** The reason access is needed, in words an approver can judge. */
    reason: z.string().trim().min(10, 'reason must say in at least 10 characters why access is needed').max(500),
    /** The change or incident ticket the task belongs to. */
    ticket: ticketId,
    /** Free-form task metadata (pipeline run id, commit, agent step), shown to approvers and recorded. */
    task: z.record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/), z.string().max(256)).default({}),
  })
  .strict();

/** A request as submitted, before defaults are applied. */
export type AccessRequestInput = z.input<typeof accessRequestSchema>;

/** A request after validation, with defaults applied. */
export type AccessRequest = z.output<typeof accessRequestSchema>;

/**
 * Validates a request and returns it with defaults applied.
 * Throws an Error whose message names every invalid field and how to fix it.
 */
export function parseAccessRequest(input: unknown): AccessRequest {
  const result = accessRequestSchema.safeParse(input, { reportInput: true });
  if (result.success) return result.data;
  throw new Error(`invalid access request: ${describeIssues(result.error.issues)}`);
}

/**
 * Formats zod issues as `field: message (got VALUE)`. The identity token is a bearer secret, so its value is
 * never shown; the other request fields carry no secrets.
 */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const field = issue.path.length > 0 ? issue.path.join('.') : '(request)';
      const secret = issue.path[0] === 'identityToken';
      const showValue = !secret && issue.input !== undefined && (typeof issue.input !== 'object' || issue.input === null);
      const got = showValue ? ` (got ${JSON.stringify(issue.input)?.slice(0, 80)})` : '';
      return `${field}: ${issue.message}${got}`;
    })
    .join('; ');
}
