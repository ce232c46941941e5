/**
 * The worker service: `npm run worker`, or `tsx worker/main.ts`. Stops cleanly on SIGINT and SIGTERM, letting
 * running activities finish; workflows resume on any worker of the same task queue.
 */
import { logger } from './logger';
import { readSettings } from './settings';
import { createJitWorker } from './worker';

async function main(): Promise<void> {
  const settings = readSettings();
  const { worker, connection, policy, temporal } = await createJitWorker(settings);
  logger.info({ taskQueue: settings.JIT_TASK_QUEUE, temporal: settings.TEMPORAL_ADDRESS, vault: settings.VAULT_ADDR }, 'worker started');
  try {
    await worker.run();
  } finally {
    policy.close();
    await temporal.connection.close();
    await connection.close();
    logger.info('worker stopped');
  }
}

main().catch((err: Error) => {
  logger.fatal({ err: { message: err.message, name: err.name } }, 'worker failed to start or crashed');
  process.exit(1);
});
