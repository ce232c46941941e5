/**
 * Worker settings from the environment, validated with zod so a missing or malformed value stops the worker at
 * start with the variable's name and the fix.
 */
import { readFileSync } from 'node:fs';

import { z } from 'zod';

import { DEFAULT_TASK_QUEUE } from '../workflows/definitions';

const settingsSchema = z.object({
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  JIT_TASK_QUEUE: z.string().default(DEFAULT_TASK_QUEUE),
  JIT_CATALOG: z.string().default('config/entitlements.json'),
  JIT_POLICY_DIR: z.string().default('config/policies'),
  /** The Cedar schema; by default schema.cedarschema in JIT_POLICY_DIR. */
  JIT_POLICY_SCHEMA: z.string().optional(),
  JIT_POLICY_SETTINGS: z.string().default('config/policy-settings.json'),
  /** The approver directory: approvers, their groups and their Slack accounts. */
  JIT_APPROVERS: z.string().default('config/approvers.json'),
  JIT_ISSUERS: z.string({ message: 'JIT_ISSUERS must name the trusted issuers file; config/issuers.example.json shows the format' }),
  VAULT_ADDR: z.url({ message: 'VAULT_ADDR must be a URL such as http://127.0.0.1:8200' }),
  VAULT_TOKEN: z.string().min(1, 'VAULT_TOKEN must be set to a token with the worker policy'),
  /** Payload encryption keys, `id:base64key` entries separated by commas; the first encrypts. */
  JIT_CODEC_KEYS: z.string({ message: 'JIT_CODEC_KEYS must hold the payload encryption keys, such as k1:<base64 of 32 random bytes>' }).min(1),
  JIT_VERIFY_DATABASE_URL: z.string().optional(),
  /** The Slack bot token (`xoxb-...`) used to post request messages; Slack is off when unset. */
  JIT_SLACK_BOT_TOKEN: z.string().regex(/^xoxb-/, 'JIT_SLACK_BOT_TOKEN must be a Slack bot token (xoxb-...)').optional(),
  /** The Slack Web API base URL; only a test or an egress proxy sets it. */
  JIT_SLACK_API_URL: z.url({ message: 'JIT_SLACK_API_URL must be a URL ending in /api/' }).optional(),
  /** The channel id for request messages of entitlements that name none. */
  JIT_SLACK_CHANNEL: z.string().optional(),
  /** How often the reconciler runs, as a Temporal duration such as `1m`, or `off`. */
  JIT_RECONCILE_EVERY: z.string().default('1m'),
});

export type WorkerSettings = z.output<typeof settingsSchema>;

/**
 * Reads the settings; throws an Error naming each missing or invalid variable. VAULT_TOKEN_FILE, when set,
 * names a file holding the token (a container secret) and takes the place of VAULT_TOKEN.
 */
export function readSettings(env: NodeJS.ProcessEnv = process.env): WorkerSettings {
  if (env.VAULT_TOKEN_FILE) {
    try {
      env = { ...env, VAULT_TOKEN: readFileSync(env.VAULT_TOKEN_FILE, 'utf8').trim() };
    } catch (err) {
      throw new Error(`cannot read VAULT_TOKEN_FILE ${env.VAULT_TOKEN_FILE}: ${(err as Error).message}`);
    }
  }
  const result = settingsSchema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  throw new Error(`invalid worker settings: ${problems.join('; ')}. Run "npm run stack -- env" for a local stack's values.`);
}
