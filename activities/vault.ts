/**
 * Issuance and revocation through Vault's database secrets engine (OpenBao serves the same API).
 *
 * Each grant gets its own Vault role, copied from the entitlement's template role with `default_ttl` and
 * `max_ttl` set to the window. Vault therefore ends the lease at the end of the window even if no worker ever
 * runs again. Every lease a grant produced, including one from a crashed attempt, sits under one prefix, and
 * revocation removes them all in a single call.
 */
import nodeVault from 'node-vault';

import type { GrantRecord, VaultTarget } from '../workflows/definitions';

/** Vault connection settings. The token needs the capabilities in config/vault-worker-policy.hcl. */
export interface VaultSettings {
  endpoint: string;
  token: string;
  /** Per-request timeout in milliseconds; node-vault sets none by default. */
  timeoutMs?: number;
}

export interface IssueInput {
  requestId: string;
  vault: VaultTarget;
  vaultRole: string;
  ttlSeconds: number;
  /** Set by the activity wrapper: on a retry, leases of the earlier attempts are revoked first. */
  attempt?: number;
}

export interface RevokeInput {
  mount: string;
  vaultRole: string;
}

/** Template role fields that are copied to the per-grant role. */
const COPIED_ROLE_FIELDS = [
  'db_name',
  'creation_statements',
  'revocation_statements',
  'rollback_statements',
  'renew_statements',
  'credential_type',
  'credential_config',
] as const;

/** A thin wrapper over node-vault whose errors carry the method, path and Vault's message, never a token. */
export class VaultGateway {
  private readonly client: nodeVault.client;

  constructor(settings: VaultSettings) {
    this.client = nodeVault({
      endpoint: settings.endpoint,
      token: settings.token,
      requestOptions: { timeout: settings.timeoutMs ?? 10_000 },
    });
  }

  /**
   * Creates the per-grant role and reads one credential from it, then wraps the username and password in a
   * single-use token that expires with the lease. The plain password never leaves this function.
   */
  async issue(input: IssueInput): Promise<GrantRecord> {
    const { mount, templateRole } = input.vault;
    if ((input.attempt ?? 1) > 1) {
      await this.revoke({ mount, vaultRole: input.vaultRole });
    }

    const template = await this.call('read', `${mount}/roles/${templateRole}`, () =>
      this.client.read(`${mount}/roles/${templateRole}`),
    );
    const role: Record<string, unknown> = {};
    for (const field of COPIED_ROLE_FIELDS) {
      if (template.data?.[field] !== undefined) role[field] = template.data[field];
    }
    role.default_ttl = input.ttlSeconds;
    role.max_ttl = input.ttlSeconds;
    await this.call('write', `${mount}/roles/${input.vaultRole}`, () =>
      this.client.write(`${mount}/roles/${input.vaultRole}`, role),
    );

    const issuedAt = new Date();
    const creds = await this.call('read', `${mount}/creds/${input.vaultRole}`, () =>
      this.client.read(`${mount}/creds/${input.vaultRole}`),
    );
    const leaseSeconds: number = creds.lease_duration;
    const { username, password } = creds.data as { username: string; password: string };

    const wrapped = await this.call('write', 'sys/wrapping/wrap', () =>
      this.client.write('sys/wrapping/wrap', { username, password }, {
        headers: { 'X-Vault-Wrap-TTL': String(Math.max(leaseSeconds, 1)) },
      }),
    );

    return {
      leaseId: creds.lease_id,
      username,
      vaultRole: input.vaultRole,
      wrappingToken: wrapped.wrap_info.token,
      issuedAt: issuedAt.toISOString(),
      expiresAt: new Date(issuedAt.getTime() + leaseSeconds * 1000).toISOString(),
    };
  }

  /**
   * Revokes every lease under the grant's role, synchronously, then deletes the role. Idempotent: a second call
   * finds nothing to revoke and a role that is already gone.
   */
  async revoke(input: RevokeInput): Promise<void> {
    const prefix = `${input.mount}/creds/${input.vaultRole}`;
    await this.call('write', `sys/leases/revoke-prefix/${prefix}`, () =>
      this.client.write(`sys/leases/revoke-prefix/${prefix}`, {}),
    );
    await this.call('delete', `${input.mount}/roles/${input.vaultRole}`, () =>
      this.client.delete(`${input.mount}/roles/${input.vaultRole}`),
    );
  }

  /** Lists the per-grant roles (names starting with `jit-`) in a mount. */
  async listGrantRoles(mount: string): Promise<string[]> {
    try {
      const listed = await this.client.list(`${mount}/roles`);
      return ((listed.data?.keys ?? []) as string[]).filter((name) => name.startsWith('jit-'));
    } catch (err) {
      if (statusOf(err) === 404) return [];
      throw this.describe('list', `${mount}/roles`, err);
    }
  }

  /** Lists the lease ids still alive under the grant's role; an empty list means none is left. */
  async liveLeases(input: RevokeInput): Promise<string[]> {
    const prefix = `${input.mount}/creds/${input.vaultRole}/`;
    try {
      const listed = await this.client.list(`sys/leases/lookup/${prefix}`);
      return (listed.data?.keys ?? []).map((key: string) => `${prefix}${key}`);
    } catch (err) {
      if (statusOf(err) === 404) return [];
      throw this.describe('list', `sys/leases/lookup/${prefix}`, err);
    }
  }

  private async call<T = any>(method: string, path: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.describe(method, path, err);
    }
  }

  /**
   * Rebuilds an error from its status and Vault's own message, so that no request header (the token) or
   * request body (a password) reaches logs or Temporal history through the original error object.
   */
  private describe(method: string, path: string, err: unknown): Error {
    const status = statusOf(err);
    const message = err instanceof Error ? err.message : String(err);
    const described = new Error(`Vault ${method} ${path} failed${status ? ` with HTTP ${status}` : ''}: ${message}`);
    described.name = 'VaultError';
    return described;
  }
}

function statusOf(err: unknown): number | undefined {
  const response = (err as { response?: { statusCode?: number } } | undefined)?.response;
  return response?.statusCode;
}
