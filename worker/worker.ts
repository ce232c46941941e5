/**
 * Creates the worker that runs access-request workflows and their activities. Tests call this in-process; the
 * `worker/main.ts` entry point runs it as a service.
 */
import { Client, Connection, ScheduleAlreadyRunning, ScheduleOverlapPolicy } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';

import { createActivities } from '../activities';
import { PolicyStore } from '../activities/policy-store';
import { jitDataConverter } from '../client/codec';
import { installTemporalLogging, logger } from './logger';
import { RECONCILE_WORKFLOW } from '../workflows/definitions';
import type { WorkerSettings } from './settings';

/** A created, not yet running, worker and the connection to close after it stops. */
export interface JitWorker {
  worker: Worker;
  connection: NativeConnection;
  /** Watches the policy files; close it after the worker stops. */
  policy: PolicyStore;
  /** The client the reconciler lists workflows with; close its connection after the worker stops. */
  temporal: Client;
}

/**
 * Loads the policy files (throwing on an invalid one, so a bad file never serves requests), watches them for
 * changes, connects to Temporal and creates the worker.
 */
export async function createJitWorker(settings: WorkerSettings): Promise<JitWorker> {
  installTemporalLogging();
  const policy = new PolicyStore({
    catalog: settings.JIT_CATALOG,
    policyDir: settings.JIT_POLICY_DIR,
    schema: settings.JIT_POLICY_SCHEMA,
    settings: settings.JIT_POLICY_SETTINGS,
    issuers: settings.JIT_ISSUERS,
    approvers: settings.JIT_APPROVERS,
  });
  const { catalog, bundle } = policy.sources;
  logger.info(
    { catalog: catalog.path, catalogVersion: catalog.version, policyDir: bundle.directory, policyVersion: bundle.version },
    'policy loaded',
  );
  policy.watch((event) => {
    if (event.ok) logger.info(event, 'policy reloaded');
    else logger.error(event, 'policy reload failed; the last good policy stays in force');
  });

  const connection = await NativeConnection.connect({ address: settings.TEMPORAL_ADDRESS });
  const dataConverter = jitDataConverter(settings.JIT_CODEC_KEYS);
  const temporal = new Client({
    connection: await Connection.connect({ address: settings.TEMPORAL_ADDRESS }),
    namespace: settings.TEMPORAL_NAMESPACE,
    dataConverter,
  });
  if (settings.JIT_RECONCILE_EVERY !== 'off') await scheduleReconciler(temporal, settings);

  const worker = await Worker.create({
    connection,
    namespace: settings.TEMPORAL_NAMESPACE,
    taskQueue: settings.JIT_TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    dataConverter,
    // A workflow task waits this long for the worker that ran the workflow last before any worker may take it.
    // When that worker has died, this wait adds to the revocation lag, so it is shorter than the 10 s default.
    stickyQueueScheduleToStartTimeout: '3s',
    activities: createActivities({
      temporal,
      policy,
      vault: { endpoint: settings.VAULT_ADDR, token: settings.VAULT_TOKEN },
      verifyDatabaseUrl: settings.JIT_VERIFY_DATABASE_URL,
      slack: { botToken: settings.JIT_SLACK_BOT_TOKEN, apiUrl: settings.JIT_SLACK_API_URL, defaultChannel: settings.JIT_SLACK_CHANNEL },
    }),
  });
  return { worker, connection, policy, temporal };
}

/**
 * Creates the schedule that runs the reconciler on this task queue, once; an existing schedule is left as it
 * is, so several workers share one.
 */
async function scheduleReconciler(temporal: Client, settings: WorkerSettings): Promise<void> {
  const scheduleId = `jit-reconcile-${settings.JIT_TASK_QUEUE}`;
  try {
    await temporal.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: settings.JIT_RECONCILE_EVERY as Duration }] },
      action: { type: 'startWorkflow', workflowType: RECONCILE_WORKFLOW, taskQueue: settings.JIT_TASK_QUEUE, workflowId: `${scheduleId}-run` },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    logger.info({ scheduleId, every: settings.JIT_RECONCILE_EVERY }, 'reconciler scheduled');
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
}
