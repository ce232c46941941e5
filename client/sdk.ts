/**
 * The SDK a service calls to get access: start a request, wait until it is granted or refused, receive the
 * credential, release it when the task is done.
 *
 * ```ts
 * const grant = await requestAccess(client, { identityToken: process.env.ACTIONS_ID_TOKEN, entitlement: 'orders-db-readwrite',
 *   environment: 'production', durationSeconds: 600, reason: 'schema migration for release 4.2', ticket: 'CHG-1042' },
 *   { vaultAddr: 'http://127.0.0.1:8200' });
 * // grant.credential.username / grant.credential.password until grant.expiresAt
 * await grant.release();
 * ```
 */
import { randomBytes } from 'node:crypto';

import { Client, WorkflowHandle } from '@temporalio/client';
import nodeVault from 'node-vault';

import {
  ACCESS_REQUEST_WORKFLOW,
  DEFAULT_TASK_QUEUE,
  entitlementKey,
  environmentKey,
  FINAL_PHASES,
  phaseKey,
  releaseSignal,
  statusQuery,
  type AccessRequestStatus,
} from '../workflows/definitions';
import { parseAccessRequest, type AccessRequestInput } from '../workflows/request';

export interface StartOptions {
  /** The worker's task queue; defaults to `jit-access`. */
  taskQueue?: string;
}

export interface WaitOptions {
  /** How often to query the workflow while waiting, in milliseconds. Default 500. */
  pollIntervalMs?: number;
  /** Called once for every phase the request enters while the caller waits. */
  onPhase?: (status: AccessRequestStatus) => void;
  /** Stops waiting (the request itself goes on). */
  signal?: AbortSignal;
}

export interface RequestAccessOptions extends StartOptions, WaitOptions {
  /**
   * Vault address for unwrapping the credential. When omitted, the grant carries only the wrapping token and
   * the caller unwraps it itself. The token is single-use: if unwrapping fails, someone else may have used it.
   */
  vaultAddr?: string;
}

/** Username and password of a database credential. */
export interface DatabaseCredential {
  username: string;
  password: string;
}

/** A granted request, with its credential when the SDK unwrapped it. */
export interface AccessGrant {
  requestId: string;
  status: AccessRequestStatus;
  /** When access ends at the latest, as an ISO 8601 timestamp. */
  expiresAt: string;
  credential?: DatabaseCredential;
  /** Ends the grant now; revocation follows within seconds. */
  release(by?: string): Promise<void>;
}

/** Thrown when a request ends without a grant: denied by policy or an approver, expired or failed. */
export class AccessRefusedError extends Error {
  constructor(readonly status: AccessRequestStatus) {
    super(`access request ${status.requestId} ${status.phase}: ${status.outcome ?? 'no reason recorded'}`);
    this.name = 'AccessRefusedError';
  }
}

/**
 * Validates and starts a request, returning its workflow handle at once. Throws before anything starts when the
 * input is invalid, naming each field and the fix.
 */
export async function startAccessRequest(
  client: Client,
  input: AccessRequestInput,
  options: StartOptions = {},
): Promise<WorkflowHandle> {
  const request = parseAccessRequest(input);
  const workflowId = `jit-${request.entitlement}-${randomBytes(4).toString('hex')}`;

  // No execution or run timeout on purpose: a timeout ends the run without running its revocation. The
  // approval deadline and the window are durable timers inside the workflow instead.
  return client.workflow.start(ACCESS_REQUEST_WORKFLOW, {
    workflowId,
    taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
    args: [request],
    // The requester search attribute is set by the workflow once the identity token is verified.
    typedSearchAttributes: [
      { key: entitlementKey, value: request.entitlement },
      { key: environmentKey, value: request.environment },
      { key: phaseKey, value: 'evaluating' },
    ],
    staticSummary: `${request.entitlement} in ${request.environment} for ${request.durationSeconds}s (${request.ticket})`,
    staticDetails: `Reason: ${request.reason}`,
  });
}

/**
 * Polls the request until it is granted or has ended, and returns its status at that moment.
 * Resolves for a refusal too; check `phase`.
 */
export async function waitForDecision(handle: WorkflowHandle, options: WaitOptions = {}): Promise<AccessRequestStatus> {
  const interval = options.pollIntervalMs ?? 500;
  let lastPhase: string | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const status = await handle.query(statusQuery);
    if (status.phase !== lastPhase) {
      lastPhase = status.phase;
      options.onPhase?.(status);
    }
    if (status.phase === 'granted' || FINAL_PHASES.includes(status.phase)) return status;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/**
 * Requests access and waits for the outcome: the one call a service needs. Throws AccessRefusedError when the
 * request is denied, expires or fails.
 */
export async function requestAccess(
  client: Client,
  input: AccessRequestInput,
  options: RequestAccessOptions = {},
): Promise<AccessGrant> {
  const handle = await startAccessRequest(client, input, options);
  const status = await waitForDecision(handle, options);
  if (status.phase !== 'granted' || !status.grant) throw new AccessRefusedError(status);

  const credential = options.vaultAddr ? await unwrapCredential(options.vaultAddr, status.grant.wrappingToken) : undefined;
  return {
    requestId: handle.workflowId,
    status,
    expiresAt: status.grant.expiresAt,
    credential,
    release: (by = status.requester) => handle.signal(releaseSignal, { by }),
  };
}

/**
 * Exchanges the single-use wrapping token for the credential. Needs no Vault token: the wrapping token is its
 * own authorization, and Vault refuses it once used or expired.
 */
export async function unwrapCredential(vaultAddr: string, wrappingToken: string): Promise<DatabaseCredential> {
  const vault = nodeVault({ endpoint: vaultAddr, requestOptions: { timeout: 10_000 } });
  try {
    const response = await vault.write('sys/wrapping/unwrap', {}, { headers: { 'X-Vault-Token': wrappingToken } });
    return response.data as DatabaseCredential;
  } catch (err) {
    throw new Error(
      `unwrapping the credential at ${vaultAddr} failed: ${(err as Error).message}. ` +
        'A wrapping token works once: if this request never unwrapped it, report it, because someone else may have.',
    );
  }
}
