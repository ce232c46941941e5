/**
 * Repetition and reporting for the fault tests. `npm test` runs each fault once; `npm run chaos` runs each one
 * JIT_CHAOS_TRIALS times and prints a table from the trials recorded in JIT_CHAOS_REPORT.
 */
import { appendFileSync } from 'node:fs';

import type { GrantRecord, RevocationRecord } from '../../workflows/definitions';
import { liveDatabaseLeases, liveDatabaseUsers } from './stack';

/** How many times each fault test repeats its scenario. */
export const CHAOS_TRIALS = Math.max(1, Number(process.env.JIT_CHAOS_TRIALS ?? 1));

/** One trial as the chaos table counts it. */
export interface TrialRecord {
  fault: string;
  issued: number;
  /** Credentials still alive in Vault or PostgreSQL after the workflow reported the revocation. */
  leaked: number;
  lagSeconds: number;
}

/**
 * Counts what a trial left alive and, when JIT_CHAOS_REPORT names a file, appends the trial to it.
 * `lostLeases` are credentials Vault issued to an attempt whose result was lost; they count as issued, and as
 * leaked while alive.
 */
export async function recordTrial(fault: string, grant: GrantRecord, revocation: RevocationRecord, lostLeases: string[] = []): Promise<TrialRecord> {
  const users = await liveDatabaseUsers();
  const leases = await liveDatabaseLeases();
  const grantLeft = users.includes(grant.username) || leases.includes(grant.leaseId) ? 1 : 0;
  const lostLeft = lostLeases.filter((leaseId) => leases.includes(leaseId)).length;
  const record = { fault, issued: 1 + lostLeases.length, leaked: grantLeft + lostLeft, lagSeconds: revocation.lagSeconds };
  if (process.env.JIT_CHAOS_REPORT) appendFileSync(process.env.JIT_CHAOS_REPORT, `${JSON.stringify(record)}\n`);
  return record;
}
