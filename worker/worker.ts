/**
 * Creates the worker that runs access-request workflows and their activities. Tests call this in-process; the
 * `worker/main.ts` entry point runs it as a service.
 */
import { NativeConnection, Worker } from '@temporalio/worker';

import { createActivities } from '../activities';
import { PolicyStore } from '../activities/policy-store';
import { jitDataConverter } from '../client/codec';
import { installTemporalLogging, logger } from './logger';
import type { WorkerSettings } from './settings';

/** A created, not yet running, worker and the connection to close after it stops. */
export interface JitWorker {
  worker: Worker;
  connection: NativeConnection;
  /** Watches the policy files; close it after the worker stops. */
  policy: PolicyStore;
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
  const worker = await Worker.create({
    connection,
    namespace: settings.TEMPORAL_NAMESPACE,
    taskQueue: settings.JIT_TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    dataConverter: jitDataConverter(settings.JIT_CODEC_KEYS),
    activities: createActivities({
      policy,
      vault: { endpoint: settings.VAULT_ADDR, token: settings.VAULT_TOKEN },
      verifyDatabaseUrl: settings.JIT_VERIFY_DATABASE_URL,
    }),
  });
  return { worker, connection, policy };
}
