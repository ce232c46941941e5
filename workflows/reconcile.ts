/**
 * The reconciliation workflow, started by a Temporal schedule. It catches what skips workflow code: a grant
 * whose workflow was terminated, timed out or lost never runs its own revocation. Such a grant's Vault role is
 * owned by no running access-request workflow; the reconciler revokes its leases, verifies, and reports it.
 */
import { log, proxyActivities } from '@temporalio/workflow';

import type { Activities } from '../activities';

/** One orphaned grant the reconciler found and revoked. */
export interface ReconciledGrant {
  mount: string;
  vaultRole: string;
  /** Leases that were still alive before revocation; zero when Vault had already expired them. */
  liveLeases: number;
  checks: string[];
}

const { findOrphanGrants } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3 },
});

const { revokeCredential, verifyRevocation } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 20 },
});

/** Revokes every orphaned grant and returns what it revoked. */
export async function reconcileLeases(): Promise<ReconciledGrant[]> {
  const orphans = await findOrphanGrants();
  const reconciled: ReconciledGrant[] = [];
  for (const orphan of orphans) {
    log.warn('revoking a grant no running workflow owns', { vaultRole: orphan.vaultRole, liveLeases: orphan.liveLeases });
    await revokeCredential({ mount: orphan.mount, vaultRole: orphan.vaultRole });
    const checks = await verifyRevocation({ mount: orphan.mount, vaultRole: orphan.vaultRole });
    reconciled.push({ ...orphan, checks });
  }
  return reconciled;
}
