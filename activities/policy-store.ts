/**
 * The policy files in force: catalog, Cedar bundle, policy settings, trusted issuers and the approver
 * directory. Loaded at worker start, where any invalid file stops the worker, and reloaded when a file
 * changes, where an invalid edit keeps the last good set in force and is logged.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';

import { loadCatalog } from './catalog';
import { loadPolicyBundle } from './cedar';
import { ApproverDirectory } from './directory';
import { IdentityVerifier } from './identity';
import type { PolicySources } from './policy';
import { loadPolicySettings } from './policy-settings';

/** Paths of the policy files. */
export interface PolicyPaths {
  catalog: string;
  policyDir: string;
  /** The Cedar schema; defaults to schema.cedarschema in policyDir. */
  schema?: string;
  settings: string;
  issuers: string;
  /** The approver directory. */
  approvers: string;
}

/** The outcome of a reload, for the worker's log. */
export type ReloadEvent =
  | { ok: true; policyVersion: string; catalogVersion: string }
  | { ok: false; error: string; keptPolicyVersion: string };

export class PolicyStore {
  private current: PolicySources & { identity: IdentityVerifier };
  private watchers: FSWatcher[] = [];
  private pending: NodeJS.Timeout | undefined;

  /** Loads every file; throws with the file, line and a hint when one is invalid. */
  constructor(readonly paths: PolicyPaths) {
    this.current = PolicyStore.load(paths);
  }

  private static load(paths: PolicyPaths): PolicySources & { identity: IdentityVerifier } {
    return {
      catalog: loadCatalog(paths.catalog),
      bundle: loadPolicyBundle(paths.policyDir, paths.schema),
      settings: loadPolicySettings(paths.settings),
      directory: ApproverDirectory.fromFile(paths.approvers),
      identity: IdentityVerifier.fromFile(paths.issuers),
    };
  }

  /** The files in force. */
  get sources(): PolicySources & { identity: IdentityVerifier } {
    return this.current;
  }

  /** Loads the files again; on any error keeps the last good set and reports why. */
  reload(): ReloadEvent {
    try {
      this.current = PolicyStore.load(this.paths);
      return { ok: true, policyVersion: this.current.bundle.version, catalogVersion: this.current.catalog.version };
    } catch (err) {
      return { ok: false, error: (err as Error).message, keptPolicyVersion: this.current.bundle.version };
    }
  }

  /**
   * Reloads shortly after a policy file changes; editors write files in several steps, so changes within
   * 200 ms are taken together. Folders are watched rather than files, because an editor that saves by
   * renaming replaces the file a watch would follow. Other files in those folders, such as logs, are ignored.
   * Call `close` to stop watching.
   */
  watch(onReload: (event: ReloadEvent) => void): void {
    const folders = new Map<string, (name: string) => boolean>();
    const addFile = (path: string) => {
      const previous = folders.get(dirname(path));
      folders.set(dirname(path), (name) => name === basename(path) || (previous?.(name) ?? false));
    };
    addFile(this.paths.catalog);
    addFile(this.paths.settings);
    addFile(this.paths.issuers);
    addFile(this.paths.approvers);
    if (this.paths.schema) addFile(this.paths.schema);
    const previous = folders.get(this.paths.policyDir);
    folders.set(this.paths.policyDir, (name) => /\.cedar(schema)?$/.test(name) || (previous?.(name) ?? false));

    for (const [folder, isPolicyFile] of folders) {
      this.watchers.push(
        watch(folder, (_event, name) => {
          if (name !== null && !isPolicyFile(name.toString())) return;
          clearTimeout(this.pending);
          this.pending = setTimeout(() => onReload(this.reload()), 200);
        }),
      );
    }
  }

  close(): void {
    clearTimeout(this.pending);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }
}
