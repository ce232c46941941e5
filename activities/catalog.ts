/**
 * The entitlement catalog: every entitlement a requester may ask for, where Vault issues it, how long it may
 * last and who approves it. Policy (Cedar) decides who may request it. The worker loads it at start and refuses to start when it is invalid, so a
 * broken catalog denies everything instead of allowing anything.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

import { MAX_WINDOW_SECONDS } from '../workflows/request';
import { readConfigFile } from './config-file';

const entitlementSchema = z
  .object({
    description: z.string().min(1),
    /** The only environment this entitlement may be used from. */
    environment: z.string().min(1),
    maxDurationSeconds: z.number().int().min(1).max(MAX_WINDOW_SECONDS),
    vault: z
      .object({
        /** The Vault secrets engine type; the database engine is the one implemented. */
        backend: z.literal('database', { message: 'backend must be "database", the only engine implemented' }),
        mount: z.string().regex(/^[a-z0-9][a-z0-9/_-]*$/, 'use a Vault mount path such as database'),
        templateRole: z.string().regex(/^[A-Za-z0-9_-]+$/, 'use the name of a role in that mount'),
      })
      .strict(),
    /**
     * The approval rule: the groups asked to approve, the distinct approvals needed, and the deadline. It applies
     * when policy does not allow the autoApprove action. Whether a member of these groups may approve is policy's decision (the
     * Cedar `approve` action), made again when each vote arrives.
     */
    approval: z
      .object({
        /** Approver groups of the approver directory whose members are asked first. */
        groups: z.array(z.string().min(1)).min(1, 'name at least one approver group'),
        quorum: z.number().int().min(1).default(1),
        deadlineSeconds: z.number().int().min(1).max(7 * 24 * 3600),
        /** Seconds after the request at which pending approvers are reminded; no reminder when absent. */
        reminderAfterSeconds: z.number().int().min(1).optional(),
        /** A second group asked when the first has not decided after `afterSeconds`. */
        escalation: z
          .object({ afterSeconds: z.number().int().min(1), groups: z.array(z.string().min(1)).min(1) })
          .strict()
          .optional(),
        /** The Slack channel id the approval message is posted to; the Slack default channel when absent. */
        slackChannel: z.string().regex(/^[CG][A-Z0-9]{2,20}$/, 'use a Slack channel id such as C0123ABCD').optional(),
      })
      .strict(),
  })
  .strict();

const catalogSchema = z
  .object({
    entitlements: z.record(
      z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'entitlement names are lowercase words joined by dashes'),
      entitlementSchema,
    ),
  })
  .strict();

export type Entitlement = z.output<typeof entitlementSchema>;

/** A validated catalog and the hash that identifies its exact content in every decision. */
export interface Catalog {
  entitlements: Record<string, Entitlement>;
  /** `sha256:` and the first 16 hex digits of the file's SHA-256. */
  version: string;
  /** The file it was loaded from, for messages. */
  path: string;
}

/**
 * Reads and validates a catalog file.
 * Throws an Error naming the file, the field and the fix when it is missing, not JSON or not valid.
 */
export function loadCatalog(path: string): Catalog {
  const { data, text } = readConfigFile(path, catalogSchema, 'entitlement catalog', 'set JIT_CATALOG to the catalog file');
  const version = `sha256:${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
  return { entitlements: data.entitlements, version, path };
}
