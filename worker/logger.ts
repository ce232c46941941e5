/**
 * Structured logs for the worker and the Temporal runtime, through pino. Every line is one JSON object with
 * stable keys (requestId, leaseId, phase); no call site passes a password or token.
 */
import { DefaultLogger, type LogEntry, Runtime } from '@temporalio/worker';
import pino from 'pino';

/**
 * Creates a service's logger. LOG_LEVEL sets the level (trace, debug, info, warn, error); the default is info.
 * Fields named like secrets are redacted as a second line of defense.
 */
export function createLogger(service: string): pino.Logger {
  return pino({
    level: process.env.LOG_LEVEL ?? 'info',
    base: { service },
    redact: { paths: ['password', 'token', 'wrappingToken', '*.password', '*.token', '*.wrappingToken'], censor: '[redacted]' },
  });
}

/** The worker's process-wide logger. */
export const logger = createLogger('jit-access-worker');

const LEVELS = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' } as const;
const TEMPORAL_LEVEL = (Object.keys(LEVELS) as Array<keyof typeof LEVELS>).find(
  (level) => LEVELS[level] === logger.level,
) ?? 'ERROR';

/**
 * Routes the Temporal SDK's own logs, including workflow and activity logs, into pino.
 * Runtime.install may run once per process; later calls are ignored.
 */
export function installTemporalLogging(): void {
  try {
    Runtime.install({
      logger: new DefaultLogger(TEMPORAL_LEVEL, (entry: LogEntry) => {
        logger[LEVELS[entry.level]]({ ...entry.meta }, entry.message);
      }),
    });
  } catch {
    // Already installed by an earlier worker in this process.
  }
}
