/**
 * Crash points for the chaos suite. A worker started with JIT_CHAOS_KILL_AT set to one of these names kills
 * itself with SIGKILL when it reaches that point, the way a machine failure would: no cleanup, no reply to
 * Temporal. Unset, as in every real deployment, they do nothing.
 */

/** The moments of the lifecycle where the chaos suite kills a worker from the inside. */
export type CrashPoint =
  /** The request-time policy decision is made but not yet returned to Temporal. */
  | 'after-policy'
  /** Vault issued the credential, and the activity has not reported it. */
  | 'after-vault-issue'
  /** Vault revoked the grant's leases, and the activity has not reported it. */
  | 'after-vault-revoke';

/** Kills this process if JIT_CHAOS_KILL_AT names `point`. */
export function crashPoint(point: CrashPoint): void {
  if (process.env.JIT_CHAOS_KILL_AT === point) process.kill(process.pid, 'SIGKILL');
}
