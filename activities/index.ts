/**
 * The activities of the access-request workflow, bound to the worker's catalog, Vault and database settings.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import { Client as PgClient } from 'pg';

import {
  ACCESS_REQUEST_WORKFLOW,
  grantRoleName,
  type GrantRecord,
  type PolicyDecision,
  type SlackMessageRef,
  type VerifiedIdentity,
} from '../workflows/definitions';
import { parseAccessRequest, type AccessRequest } from '../workflows/request';
import { crashPoint } from './crash-points';
import { IdentityError } from './identity';
import { evaluate } from './policy';
import type { PolicyStore } from './policy-store';
import { SlackNotifier, createSlackActivities, type SlackSettings } from './slack-notices';
import { VaultGateway, type IssueInput, type RevokeInput, type VaultSettings } from './vault';
import { createVoteActivities, VOTE_REQUEST_CLAIM } from './votes';

export interface ActivityDependencies {
  /** Lists running access-request workflows, for the reconciler. */
  temporal?: Client;
  /** The policy files in force; read on every evaluation so a reload takes effect at once. */
  policy: PolicyStore;
  vault: VaultSettings;
  /**
   * A PostgreSQL connection string with the right to read `pg_roles` and `pg_stat_activity` on the target
   * database. When set, revocation is reported only after the database confirms the user is gone.
   */
  verifyDatabaseUrl?: string;
  /** Slack settings for request messages and alerts. Slack is off without a bot token. */
  slack?: SlackSettings;
}

/** The input of revokeCredential and verifyRevocation. */
export type RevokeRequest = RevokeInput & {
  /** The database user, checked by verifyRevocation when a verification database is configured. */
  username?: string;
  /** The request's Slack message, whose thread gets the late-revocation alert. */
  slackMessage?: SlackMessageRef;
};

/** The input of evaluatePolicy. */
export interface PolicyInput {
  request: AccessRequest;
  stage: PolicyDecision['stage'];
  /** The identity verified at the request stage; the issue stage uses it in place of the token. */
  identity?: VerifiedIdentity;
}

/** Creates the activity functions; the worker registers the returned object. */
export function createActivities(deps: ActivityDependencies) {
  const vault = new VaultGateway(deps.vault);
  const slack = new SlackNotifier(deps.slack ?? {}, deps.policy);

  return {
    ...createVoteActivities(deps.policy),
    ...createSlackActivities(slack),

    /**
     * Verifies the requester's identity token (at the request stage) and evaluates policy. Never throws for a
     * deny: a rejected token or a failed condition becomes a deny decision with the reason.
     */
    async evaluatePolicy(input: PolicyInput): Promise<PolicyDecision> {
      let request: AccessRequest;
      try {
        request = parseAccessRequest(input.request);
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidAccessRequest');
      }
      const sources = deps.policy.sources;
      const now = new Date();

      let identity = input.identity;
      if (!identity) {
        try {
          identity = await sources.identity.verify(request.identityToken, now);
          if (identity.claims[VOTE_REQUEST_CLAIM] !== undefined) {
            throw new IdentityError('the token is a vote token, bound to one vote; a request needs the requester\'s own identity token');
          }
        } catch (err) {
          if (!(err instanceof IdentityError)) throw err;
          return {
            allow: false,
            reasons: [`FAIL identity: ${err.message}`],
            policyVersion: `policies ${sources.bundle.version}, catalog ${sources.catalog.version}`,
            decidedAt: now.toISOString(),
            stage: input.stage,
          };
        }
      }
      const decision = { ...evaluate(sources, request, identity, input.stage, now), identity };
      if (input.stage === 'request') crashPoint('after-policy');
      return decision;
    },

    /** Issues the credential. A retry first revokes whatever an earlier attempt of the same grant created. */
    async issueCredential(input: Omit<IssueInput, 'attempt'>): Promise<GrantRecord> {
      const grant = await vault.issue({ ...input, attempt: Context.current().info.attempt });
      crashPoint('after-vault-issue');
      Context.current().log.info('credential issued', {
        requestId: input.requestId,
        leaseId: grant.leaseId,
        username: grant.username,
        expiresAt: grant.expiresAt,
      });
      return grant;
    },

    /**
     * Finds per-grant Vault roles that no running access-request workflow owns, in every mount the catalog
     * uses. Such a role is left by a workflow that ended without running its revocation.
     */
    async findOrphanGrants(): Promise<Array<{ mount: string; vaultRole: string; liveLeases: number }>> {
      if (!deps.temporal) throw ApplicationFailure.nonRetryable('the reconciler needs a Temporal client; the worker passes one');
      const owned = new Set<string>();
      const query = `WorkflowType = '${ACCESS_REQUEST_WORKFLOW}' AND ExecutionStatus = 'Running'`;
      for await (const execution of deps.temporal.workflow.list({ query })) owned.add(grantRoleName(execution.workflowId));

      const mounts = new Set(Object.values(deps.policy.sources.catalog.entitlements).map((entitlement) => entitlement.vault.mount));
      const orphans: Array<{ mount: string; vaultRole: string; liveLeases: number }> = [];
      for (const mount of mounts) {
        for (const vaultRole of await vault.listGrantRoles(mount)) {
          if (owned.has(vaultRole) || (await isRunning(deps.temporal, vaultRole))) continue;
          orphans.push({ mount, vaultRole, liveLeases: (await vault.liveLeases({ mount, vaultRole })).length });
        }
      }
      Context.current().log.info('reconciliation scan', { running: owned.size, orphans: orphans.length });
      return orphans;
    },

    /** Revokes every lease of the grant and deletes its Vault role. Safe to repeat. */
    async revokeCredential(input: RevokeRequest): Promise<void> {
      try {
        await whileHeartbeating(() => vault.revoke(input));
        crashPoint('after-vault-revoke');
      } catch (err) {
        await reportRevocationFailure(input, err, slack);
        throw err;
      }
      Context.current().log.info('credential revoked', { vaultRole: input.vaultRole });
    },

    /**
     * Reads back that no lease of the grant is alive and, when a verification database is configured, that the
     * database user no longer exists and has no open session. Throws, and so is retried, until both hold.
     */
    async verifyRevocation(input: RevokeRequest): Promise<string[]> {
      return whileHeartbeating(() => readBackRevocation(vault, deps.verifyDatabaseUrl, slack, input));
    },
  };
}

/**
 * Reads back a revocation: no live lease under the grant's role in Vault and, when `verifyDatabaseUrl` is set,
 * no database user and no session. Throws, after reporting the failure, while either remains.
 */
async function readBackRevocation(
  vault: VaultGateway,
  verifyDatabaseUrl: string | undefined,
  slack: SlackNotifier,
  input: RevokeRequest,
): Promise<string[]> {
  const checks: string[] = [];
  const live = await vault.liveLeases(input);
  if (live.length > 0) {
    const err = new Error(`${live.length} lease(s) under ${input.mount}/creds/${input.vaultRole} are still alive`);
    await reportRevocationFailure(input, err, slack);
    throw err;
  }
  checks.push('Vault lease lookup: no live lease');

  if (verifyDatabaseUrl && input.username) {
    const { roles, sessions } = await countDatabaseUser(verifyDatabaseUrl, input.username);
    if (roles > 0 || sessions > 0) {
      const err = new Error(`database user ${input.username} still exists (${roles} role, ${sessions} session(s))`);
      await reportRevocationFailure(input, err, slack);
      throw err;
    }
    checks.push('PostgreSQL: role dropped, no session open');
  }
  return checks;
}

export type Activities = ReturnType<typeof createActivities>;

/**
 * Runs `work` while heartbeating every second. With the heartbeat timeout the workflow sets, Temporal notices a
 * worker that died inside the activity within seconds instead of at the start-to-close timeout, and retries.
 */
async function whileHeartbeating<T>(work: () => Promise<T>): Promise<T> {
  const context = Context.current();
  context.heartbeat();
  const timer = setInterval(() => context.heartbeat(), 1_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** Attempts after which a failing revocation is logged as late, at error level, for alerting. */
const LATE_REVOCATION_ATTEMPTS = 5;

/**
 * Logs a failed revocation attempt with the ids involved. Temporal retries it without limit. From the fifth
 * attempt on, the line reports the revocation as late, so an alert on it reaches an operator. The fifth attempt
 * also counts `jit_revocation_late` and posts a notice in the request's Slack thread.
 */
async function reportRevocationFailure(input: RevokeRequest, err: unknown, slack: SlackNotifier): Promise<void> {
  const context = Context.current();
  const { attempt, workflowExecution } = context.info;
  const fields = {
    requestId: workflowExecution?.workflowId,
    vaultRole: input.vaultRole,
    attempt,
    error: (err as Error).message,
  };
  if (attempt < LATE_REVOCATION_ATTEMPTS) {
    context.log.warn('revocation attempt failed, retrying', fields);
    return;
  }
  context.log.error('revocation late: still failing, retrying', fields);
  if (attempt !== LATE_REVOCATION_ATTEMPTS) return;

  context.metricMeter
    .createCounter('jit_revocation_late', 'revocations', 'Revocations still failing after several attempts')
    .add(1, { mount: input.mount });
  if (!input.slackMessage) return;
  try {
    await slack.notice(input.slackMessage, `:rotating_light: Revocation late: attempt ${attempt} failed (${fields.error}). Retrying until it succeeds.`);
  } catch (noticeError) {
    context.log.warn('late-revocation notice not sent to Slack', { ...fields, slackError: (noticeError as Error).message });
  }
}

/**
 * Checks one workflow directly, because the visibility store behind `list` may lag behind a workflow that has
 * just started. A role name equals its workflow id for the ids the SDK creates.
 */
async function isRunning(temporal: Client, workflowId: string): Promise<boolean> {
  try {
    const description = await temporal.workflow.getHandle(workflowId).describe();
    return description.status.name === 'RUNNING';
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError') return false;
    throw err;
  }
}

async function countDatabaseUser(url: string, username: string): Promise<{ roles: number; sessions: number }> {
  const client = new PgClient({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const roles = await client.query('SELECT count(*)::int AS n FROM pg_roles WHERE rolname = $1', [username]);
    const sessions = await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [username]);
    return { roles: roles.rows[0].n, sessions: sessions.rows[0].n };
  } finally {
    await client.end();
  }
}
