/**
 * Test access to the real local stack that `scripts/test.sh` starts: the Temporal dev server, Vault and
 * PostgreSQL. Each test file runs its own worker on a task queue of its own, with the test catalog.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import nodeVault from 'node-vault';
import { Client as PgClient } from 'pg';

import type { PolicyStore } from '../../activities/policy-store';
import { castVote, type VoteAnswer } from '../../client/votes';
import { readSettings, type WorkerSettings } from '../../worker/settings';
import { startTestIssuer, type TestIssuer } from './issuer';
import { jitDataConverter } from '../../client/codec';
import { startAccessRequest, waitForDecision } from '../../client/sdk';
import { installTemporalLogging } from '../../worker/logger';
import { createJitWorker } from '../../worker/worker';

export const ROOT = join(__dirname, '..', '..');
export const TEST_CATALOG = join(ROOT, 'test', 'fixtures', 'catalog.json');
export const TEST_POLICIES = join(ROOT, 'test', 'fixtures', 'policies');
export const TEST_APPROVERS = join(ROOT, 'test', 'fixtures', 'approvers.json');

/** Reads the stack's settings file into process.env and returns process.env. */
export function loadStackEnv(): NodeJS.ProcessEnv {
  const stateDir = process.env.JIT_STATE_DIR ?? join(ROOT, '.jit', 'test-stack');
  let text: string;
  try {
    text = readFileSync(join(stateDir, 'stack.env'), 'utf8');
  } catch {
    throw new Error(`no stack settings in ${stateDir}; run the tests with "npm test", which starts the stack`);
  }
  for (const line of text.split('\n')) {
    const match = /^export ([A-Z_]+)=(.*)$/.exec(line);
    if (match) process.env[match[1]!] = match[2]!;
  }
  return process.env;
}

/** Returns a tool path the stack recorded in its tools.env, such as TEMPORAL_BIN. */
export function stackTool(name: 'TEMPORAL_BIN' | 'VAULT_BIN' | 'PG_BIN_DIR'): string {
  const stateDir = process.env.JIT_STATE_DIR ?? join(ROOT, '.jit', 'test-stack');
  const match = new RegExp(`^${name}=(.*)$`, 'm').exec(readFileSync(join(stateDir, 'tools.env'), 'utf8'));
  if (!match) throw new Error(`${name} is missing from ${join(stateDir, 'tools.env')}; start the stack again`);
  return match[1]!;
}

/** Settings for a worker on a new task queue, using the test catalog, the test policies and the given issuer. */
export function workerSettings(issuer: TestIssuer, overrides: Partial<WorkerSettings> = {}): WorkerSettings {
  loadStackEnv();
  return {
    ...readSettings(),
    JIT_CATALOG: TEST_CATALOG,
    JIT_POLICY_DIR: TEST_POLICIES,
    JIT_POLICY_SCHEMA: join(ROOT, 'config', 'policies', 'schema.cedarschema'),
    JIT_POLICY_SETTINGS: join(ROOT, 'config', 'policy-settings.json'),
    JIT_ISSUERS: issuer.issuersFile,
    JIT_APPROVERS: TEST_APPROVERS,
    JIT_TASK_QUEUE: `test-${randomBytes(4).toString('hex')}`,
    // Tests run the reconciler themselves when they need it.
    JIT_RECONCILE_EVERY: 'off',
    ...overrides,
  };
}

/** Connects a client environment to the stack's Temporal server, with the payload codec of `settings`. */
export function connectTestEnvironment(settings: WorkerSettings): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createFromExistingServer({
    address: settings.TEMPORAL_ADDRESS,
    client: { dataConverter: jitDataConverter(settings.JIT_CODEC_KEYS) },
  });
}

/** A connected test environment, a test issuer and a running worker; call `stop` in `after`. */
export interface Harness {
  env: TestWorkflowEnvironment;
  settings: WorkerSettings;
  issuer: TestIssuer;
  /** The worker's policy files; `reload()` applies an edit at once instead of waiting for the file watch. */
  policy: PolicyStore;
  stop(): Promise<void>;
}

/** Connects to the stack's Temporal server and starts a worker in this process. */
export async function startHarness(overrides: Partial<WorkerSettings> = {}): Promise<Harness> {
  const issuer = await startTestIssuer();
  const settings = workerSettings(issuer, overrides);
  installTemporalLogging();
  const env = await connectTestEnvironment(settings);
  const { worker, connection, policy, temporal } = await createJitWorker(settings);
  const running = runWorker(worker);
  return {
    env,
    settings,
    issuer,
    policy,
    async stop() {
      worker.shutdown();
      await running;
      policy.close();
      await temporal.connection.close();
      await connection.close();
      await env.teardown();
      issuer.close();
    },
  };
}

function runWorker(worker: Worker): Promise<void> {
  return worker.run().catch((err: Error) => {
    console.error(`test worker stopped with an error: ${err.message}`);
  });
}

/**
 * Votes on a request as `principal`, proven by a token from the test issuer, the way `jit approve` does. The
 * token names no groups, so the approver directory alone decides the voter's groups.
 */
export async function voteAs(
  harness: Harness,
  requestId: string,
  principal: string,
  decision: 'approve' | 'deny',
  reason?: string,
): Promise<VoteAnswer> {
  const identityToken = await harness.issuer.mint(principal);
  return castVote(harness.env.client, requestId, { decision, identityToken, reason, via: 'cli' });
}

/** Starts a request for the auto-approved staging entitlement and waits for it to be granted. */
export async function startStagingGrant(harness: Harness, durationSeconds: number, reason: string) {
  const handle = await startAccessRequest(
    harness.env.client,
    {
      identityToken: await harness.issuer.mint('ci:deploy-pipeline'),
      entitlement: 'orders-db-staging-auto',
      environment: 'staging',
      durationSeconds,
      reason,
      ticket: 'OPS-6',
    },
    { taskQueue: harness.settings.JIT_TASK_QUEUE },
  );
  const granted = await waitForDecision(handle);
  if (granted.phase !== 'granted') throw new Error(`expected a grant, got ${granted.phase}: ${granted.outcome}`);
  return { handle, granted };
}

/** A worker running as its own process, and everything it printed so far. */
export interface WorkerProcess {
  child: ChildProcess;
  output(): string;
}

/** Starts `worker/main.ts` as its own process, with `extraEnv` added, and resolves once it polls the task queue. */
export async function spawnWorkerProcess(settings: WorkerSettings, logLevel = 'info', extraEnv: Record<string, string> = {}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
    cwd: ROOT,
    // The caller waits for the "worker started" line, which is logged at info level.
    env: { ...process.env, ...settings, ...extraEnv, LOG_LEVEL: logLevel },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  await eventually('the worker process to start', 60_000, async () => {
    if (child.exitCode !== null) throw new Error(`worker exited with ${child.exitCode}: ${output}`);
    return output.includes('"worker started"') || undefined;
  });
  return { child, output: () => output };
}

/** Connects to the target database as the given user. */
export async function connectAs(username: string, password: string): Promise<PgClient> {
  const env = loadStackEnv();
  const db = new PgClient({
    host: '127.0.0.1',
    port: Number(env.JIT_POSTGRES_PORT),
    database: 'orders',
    user: username,
    password,
    connectionTimeoutMillis: 5_000,
  });
  await db.connect();
  return db;
}

/** Runs a query as the cluster's superuser, for checks the tests make behind Vault's back. */
export async function adminQuery<T extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
  const env = loadStackEnv();
  const db = await connectAs('postgres', env.JIT_POSTGRES_PASSWORD!);
  try {
    return (await db.query<T>(sql, params)).rows;
  } finally {
    await db.end();
  }
}

/** Makes PostgreSQL refuse Vault: its vault_admin user loses LOGIN and its open sessions are ended. */
export async function lockOutVault(): Promise<void> {
  await adminQuery('ALTER ROLE vault_admin NOLOGIN');
  await adminQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'vault_admin'");
}

/** Lets Vault log in to PostgreSQL again. */
export async function letVaultIn(): Promise<void> {
  await adminQuery('ALTER ROLE vault_admin LOGIN');
}

/** Lists the live lease ids under `database/creds/`, with Vault's root token. */
export async function liveDatabaseLeases(): Promise<string[]> {
  const env = loadStackEnv();
  const vault = nodeVault({ endpoint: env.VAULT_ADDR, token: env.JIT_VAULT_ROOT_TOKEN, requestOptions: { timeout: 10_000 } });
  const leases: string[] = [];
  const walk = async (prefix: string): Promise<void> => {
    let keys: string[];
    try {
      keys = (await vault.list(`sys/leases/lookup/${prefix}`)).data.keys;
    } catch (err) {
      if ((err as { response?: { statusCode?: number } }).response?.statusCode === 404) return;
      throw err;
    }
    for (const key of keys) {
      if (key.endsWith('/')) await walk(`${prefix}${key}`);
      else leases.push(`${prefix}${key}`);
    }
  };
  await walk('database/creds/');
  return leases;
}

/** Lists the database users Vault created (their names start with `v-`) that still exist. */
export async function liveDatabaseUsers(): Promise<string[]> {
  const rows = await adminQuery<{ rolname: string }>("SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY 1");
  return rows.map((row) => row.rolname);
}

/** Polls `probe` every 250 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Returns a TCP port on 127.0.0.1 that nothing listens on at the moment of the call. */
export async function free127Port(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
