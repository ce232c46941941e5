/**
 * Runs the Slack app as a service: `npm run slack`. Settings come from the environment and are checked at
 * start, so a missing secret or key stops the app with the variable's name and the fix.
 */
import { readFileSync } from 'node:fs';

import { Client, Connection } from '@temporalio/client';
import { importJWK, type JWK } from 'jose';
import { z } from 'zod';

import { ApproverDirectory } from '../activities/directory';
import { createLogger } from '../worker/logger';
import { jitDataConverter } from './codec';
import { createSlackApp } from './slack-app';

const logger = createLogger('jit-access-slack');

const settingsSchema = z.object({
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  JIT_CODEC_KEYS: z.string({ message: 'must hold the payload encryption keys the worker uses' }).min(1),
  JIT_APPROVERS: z.string().default('config/approvers.json'),
  JIT_SLACK_SIGNING_SECRET: z.string({ message: "must be the app's signing secret (Basic Information page of the Slack app)" }).min(8),
  JIT_SLACK_BOT_TOKEN: z.string({ message: 'must be the bot token (xoxb-...)' }).regex(/^xoxb-/, 'must be a bot token, starting with xoxb-'),
  JIT_SLACK_API_URL: z.url().optional(),
  /** A private ES256 JWK; `tsx scripts/local-issuer.ts init DIR` writes one to DIR/private.jwk. */
  JIT_SLACK_VOTE_KEY: z.string({ message: 'must name the private JWK file that signs vote tokens' }),
  JIT_SLACK_VOTE_ISSUER: z.string().default('jit-access-slack'),
  JIT_SLACK_MATCH_EMAIL: z.enum(['true', 'false']).default('false'),
  /** Port of `/slack/events`. */
  JIT_SLACK_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Listen address; 127.0.0.1 unless the app sits behind an ingress on another interface. */
  JIT_SLACK_HOST: z.string().default('127.0.0.1'),
  /** An app-level token (xapp-...) switches to Socket Mode, where no HTTP endpoint is needed. */
  JIT_SLACK_APP_TOKEN: z.string().regex(/^xapp-/, 'must be an app-level token (xapp-...)').optional(),
});

async function main(): Promise<void> {
  const parsed = settingsSchema.safeParse(process.env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`invalid Slack app settings: ${problems.join('; ')}. For a local stack, "source .jit/stack/stack.env" sets the Temporal and codec values.`);
  }
  const settings = parsed.data;

  const voteKey = await readVoteKey(settings.JIT_SLACK_VOTE_KEY);
  let directory = ApproverDirectory.fromFile(settings.JIT_APPROVERS);
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: settings.TEMPORAL_ADDRESS, connectTimeout: '10s' });
  } catch (err) {
    throw new Error(`cannot connect to Temporal at ${settings.TEMPORAL_ADDRESS}: ${(err as Error).message}; check TEMPORAL_ADDRESS`);
  }
  const temporal = new Client({
    connection,
    namespace: settings.TEMPORAL_NAMESPACE,
    dataConverter: jitDataConverter(settings.JIT_CODEC_KEYS),
  });

  const slack = createSlackApp({
    signingSecret: settings.JIT_SLACK_SIGNING_SECRET,
    botToken: settings.JIT_SLACK_BOT_TOKEN,
    apiUrl: settings.JIT_SLACK_API_URL,
    directory: () => directory,
    matchByEmail: settings.JIT_SLACK_MATCH_EMAIL === 'true',
    voteKey,
    voteIssuer: settings.JIT_SLACK_VOTE_ISSUER,
    temporal,
    logger,
    socketModeAppToken: settings.JIT_SLACK_APP_TOKEN,
  });
  const port = await slack.start(settings.JIT_SLACK_PORT, settings.JIT_SLACK_HOST);
  if (settings.JIT_SLACK_APP_TOKEN) logger.info('Slack app connected in Socket Mode');
  else logger.info({ port, host: settings.JIT_SLACK_HOST, path: '/slack/events' }, 'Slack app listening');

  // The directory is read again on SIGHUP, so an approver added to the file can click without a restart.
  process.on('SIGHUP', () => {
    try {
      directory = ApproverDirectory.fromFile(settings.JIT_APPROVERS);
      logger.info({ version: directory.version }, 'approver directory reloaded');
    } catch (err) {
      logger.error({ error: (err as Error).message }, 'approver directory reload failed; the last good one stays in force');
    }
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'Slack app stopping');
      void slack.stop().finally(() => process.exit(0));
    });
  }
}

/**
 * Reads the vote signing key and checks at start that it can sign, so a wrong file fails here rather than at
 * the first click. The key must be a private ES256 JWK, which `scripts/local-issuer.ts init` writes.
 */
async function readVoteKey(path: string): Promise<JWK> {
  let key: JWK;
  try {
    key = JSON.parse(readFileSync(path, 'utf8')) as JWK;
  } catch (err) {
    throw new Error(`cannot read the vote signing key ${path}: ${(err as Error).message}`);
  }
  if (key.kty !== 'EC' || key.crv !== 'P-256' || typeof key.d !== 'string') {
    throw new Error(`JIT_SLACK_VOTE_KEY ${path} is not a private ES256 key (kty EC, crv P-256, with d); create one with "tsx scripts/local-issuer.ts init DIR" and use DIR/private.jwk`);
  }
  try {
    await importJWK(key, 'ES256');
  } catch (err) {
    throw new Error(`JIT_SLACK_VOTE_KEY ${path} cannot sign: ${(err as Error).message}`);
  }
  return key;
}

main().catch((err: Error) => {
  logger.error({ error: err.message }, 'Slack app failed to start');
  process.exit(1);
});
