/**
 * The approver directory: each approver identity, the groups it belongs to, and the chat accounts that act for
 * it. Policy decides who may approve, through the Cedar `approve` action with the person in these groups. The
 * directory supplies the group membership, whom to notify, and which Slack account is which approver.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';

import { identitySchema } from '../workflows/request';
import { readConfigFile } from './config-file';

const groupName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'group names are lowercase words joined by dashes');

const approverSchema = z
  .object({
    groups: z.array(groupName).default([]),
    /** Slack accounts of this approver, by workspace (team) id and user id, as Slack's payloads name them. */
    slack: z
      .array(
        z
          .object({
            team: z.string().regex(/^T[A-Z0-9]{2,20}$/, 'use a Slack team id such as T0123ABCD'),
            user: z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'use a Slack user id such as U0123ABCD'),
          })
          .strict(),
      )
      .default([]),
    /** Used only when Slack email matching is enabled, because a Slack profile email can be edited by its owner. */
    email: z.email().optional(),
  })
  .strict();

const directorySchema = z.object({ approvers: z.record(identitySchema, approverSchema) }).strict();

export type DirectoryEntry = z.output<typeof approverSchema>;

/** A loaded approver directory and lookups over it. */
export class ApproverDirectory {
  private constructor(
    private readonly entries: Record<string, DirectoryEntry>,
    /** `sha256:` and the first 16 hex digits of the file's SHA-256. */
    readonly version: string,
  ) {}

  /** Reads and validates a directory file; throws an Error naming the file, the field and the fix. */
  static fromFile(path: string): ApproverDirectory {
    const { data, text } = readConfigFile(path, directorySchema, 'approver directory', 'set JIT_APPROVERS to the approver directory file');
    return new ApproverDirectory(data.approvers, `sha256:${createHash('sha256').update(text).digest('hex').slice(0, 16)}`);
  }

  /** A directory built in memory, for tests and tools. */
  static of(entries: Record<string, Partial<DirectoryEntry>>): ApproverDirectory {
    return new ApproverDirectory(directorySchema.parse({ approvers: entries }).approvers, 'inline');
  }

  /** Returns the groups of an approver; empty when the directory does not list it. */
  groupsOf(principal: string): string[] {
    return Object.hasOwn(this.entries, principal) ? this.entries[principal]!.groups : [];
  }

  /** Returns the approvers in any of the groups, in file order. */
  membersOf(groups: readonly string[]): string[] {
    return Object.entries(this.entries)
      .filter(([, entry]) => entry.groups.some((group) => groups.includes(group)))
      .map(([principal]) => principal);
  }

  /** Returns the approver a Slack account acts for, or undefined when no entry lists it. */
  bySlackAccount(team: string, user: string): string | undefined {
    return Object.entries(this.entries).find(([, entry]) => entry.slack.some((account) => account.team === team && account.user === user))?.[0];
  }

  /** Returns the approver with this email (case-insensitive), or undefined. */
  byEmail(email: string): string | undefined {
    const wanted = email.toLowerCase();
    return Object.entries(this.entries).find(([, entry]) => entry.email?.toLowerCase() === wanted)?.[0];
  }

  /** Returns the Slack user ids of an approver, for mentions. */
  slackUsersOf(principal: string): string[] {
    return Object.hasOwn(this.entries, principal) ? this.entries[principal]!.slack.map((account) => account.user) : [];
  }
}
