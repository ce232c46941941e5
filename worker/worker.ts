/**
 * Creates the worker that runs access-request workflows and their activities. Tests call this in-process; the
 * `worker/main.ts` entry point runs it as a service.
 */
import { NativeConnection, Worker } from '@temporalio/worker';

import { createActivities } from '../activities';
import { loadCatalog } from '../activities/catalog';
import { installTemporalLogging, logger } from './logger';
import type { WorkerSettings } from './settings';

/** A created, not yet running, worker and the connection to close after it stops. */
export interface JitWorker {
  worker: Worker;
  connection: NativeConnection;
}

/**
 * Loads the catalog (throwing on an invalid one, so a bad catalog never serves requests), connects to Temporal
 * and creates the worker.
 */
export async function createJitWorker(settings: WorkerSettings): Promise<JitWorker> {
  installTemporalLogging();
  const catalog = loadCatalog(settings.JIT_CATALOG);
  logger.info({ catalog: catalog.path, policyVersion: catalog.version, entitlements: Object.keys(catalog.entitlements) }, 'catalog loaded');

  const connection = await NativeConnection.connect({ address: settings.TEMPORAL_ADDRESS });
  const worker = await Worker.create({
    connection,
    namespace: settings.TEMPORAL_NAMESPACE,
    taskQueue: settings.JIT_TASK_QUEUE,
    workflowsPath: require.resolve('../workflows'),
    activities: createActivities({
      catalog: () => catalog,
      vault: { endpoint: settings.VAULT_ADDR, token: settings.VAULT_TOKEN },
      verifyDatabaseUrl: settings.JIT_VERIFY_DATABASE_URL,
    }),
  });
  return { worker, connection };
}
