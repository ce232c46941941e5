/**
 * The Slack app that turns Approve and Deny clicks into votes on access requests.
 *
 * Order of work for every click:
 * 1. Bolt's HTTP receiver checks Slack's signature over the raw body and rejects a timestamp more than five
 *    minutes old, with 401. The replay guard below also drops a delivery whose exact signature was already seen
 *    and a timestamp more than five minutes ahead.
 * 2. The click is acknowledged at once, inside Slack's three seconds; everything after runs after the response.
 * 3. The Slack team and user ids are resolved to an approver identity through the approver directory.
 * 4. The app mints a vote token for that approver, bound to this request and decision, and sends the vote
 *    update. The workflow verifies the token and applies every rule; the result comes back as an ephemeral reply.
 *
 * The vote token is why a Temporal client cannot claim a Slack user's vote: the worker trusts this app's signing
 * key as an identity issuer, and the key never leaves this process.
 */
import { randomUUID } from 'node:crypto';

import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger } from '@slack/bolt';
import type { BlockAction, ButtonAction, ViewSubmitAction } from '@slack/bolt';
import type { Client } from '@temporalio/client';
import { importJWK, SignJWT, type JWK } from 'jose';
import type { Logger } from 'pino';

import { ApproverDirectory } from '../activities/directory';
import { APPROVE_ACTION, DENY_ACTION, DENY_MODAL } from '../activities/slack-message';
import { VOTE_DECISION_CLAIM, VOTE_REQUEST_CLAIM } from '../activities/votes';
import { castVote, type VoteAnswer } from './votes';

/** Settings and dependencies of the Slack app. */
export interface SlackAppOptions {
  /** Slack's signing secret of the app, used to verify every request. */
  signingSecret: string;
  /** The bot token (`xoxb-...`) for ephemeral replies, modals and `users.info`. */
  botToken: string;
  /** The Slack Web API base URL; Slack's own unless a test or an egress proxy sets another. */
  apiUrl?: string;
  /** Approver directory: maps Slack team and user ids to approver identities. */
  directory: () => ApproverDirectory;
  /**
   * Also match a clicker by the email of their Slack profile. Off by default, because a Slack user can edit
   * that email, so enabling it trusts every workspace admin and user profile to be accurate.
   */
  matchByEmail: boolean;
  /** Private JWK (ES256) that signs vote tokens; the worker trusts its public half as issuer `voteIssuer`. */
  voteKey: JWK;
  /** The `iss` of vote tokens, as configured in the worker's issuers file with kind `user`. */
  voteIssuer: string;
  /** The `aud` of vote tokens; the issuers file entry must expect the same. */
  voteAudience?: string;
  temporal: Client;
  logger: Logger;
  /**
   * An app-level token (`xapp-...`) selects Socket Mode: Slack delivers clicks over a WebSocket the app opens,
   * so no public endpoint is needed and the signature checks do not apply. NOTE: not exercised by the tests,
   * which have no Slack to connect to.
   */
  socketModeAppToken?: string;
}

/** The running app and how to stop it. */
export interface SlackApp {
  app: App;
  /** Starts listening for Slack's requests at `/slack/events`; returns the bound port (0 in Socket Mode). */
  start(port: number, host: string): Promise<number>;
  stop(): Promise<void>;
}

/** Bolt rejects requests stamped earlier than this; the replay guard keeps seen signatures as long. */
const TIMESTAMP_TOLERANCE_SECONDS = 5 * 60;

/** Vote tokens are sent right after minting, so a short lifetime is enough. */
const VOTE_TOKEN_TTL_SECONDS = 60;

/** Creates the app: over HTTP at `/slack/events`, or in Socket Mode when an app-level token is given. */
export function createSlackApp(options: SlackAppOptions): SlackApp {
  const boltLogger = toBoltLogger(options.logger);
  if (options.socketModeAppToken) {
    const app = new App({ token: options.botToken, appToken: options.socketModeAppToken, socketMode: true, logger: boltLogger });
    registerVoteHandlers(app, options);
    return {
      app,
      async start() {
        await app.start();
        return 0;
      },
      async stop() {
        await app.stop();
      },
    };
  }

  const receiver = new HTTPReceiver({
    signingSecret: options.signingSecret,
    logger: boltLogger,
    customPropertiesExtractor: (request) => ({
      slackSignature: String(request.headers['x-slack-signature'] ?? ''),
      slackTimestamp: Number(request.headers['x-slack-request-timestamp']),
    }),
  });
  const app = new App({
    token: options.botToken,
    receiver,
    logger: boltLogger,
    clientOptions: { slackApiUrl: options.apiUrl },
    // Bolt calls auth.test on the first request instead of at start, so the app starts while Slack is
    // unreachable. A bad bot token therefore shows at the first click.
    tokenVerificationEnabled: false,
  });

  app.use(replayGuard(options.logger));
  registerVoteHandlers(app, options);
  app.error(async (error) => {
    options.logger.error({ error: error.message }, 'Slack request failed');
  });

  return {
    app,
    async start(port, host) {
      const server = (await app.start({ port, host })) as import('node:http').Server;
      const address = server.address();
      return typeof address === 'object' && address ? address.port : port;
    },
    async stop() {
      await app.stop();
    },
  };
}

/**
 * Drops a delivery whose signature was already processed, and one stamped too far in the future. Bolt checks
 * the signature and rejects stale timestamps before this runs. A dropped delivery is acknowledged, so Slack
 * does not retry it, and logged.
 */
function replayGuard(logger: Logger) {
  const seen = new Map<string, number>();
  return async (args: { context: Record<string, unknown>; next: () => Promise<void> } & { ack?: () => Promise<void> }) => {
    const signature = String(args.context.slackSignature ?? '');
    const timestamp = Number(args.context.slackTimestamp);
    const now = Math.floor(Date.now() / 1000);
    for (const [key, at] of seen) if (at < now - TIMESTAMP_TOLERANCE_SECONDS) seen.delete(key);

    if (Number.isFinite(timestamp) && timestamp > now + TIMESTAMP_TOLERANCE_SECONDS) {
      logger.warn({ timestamp }, 'Slack request rejected: its timestamp is more than five minutes in the future');
      await args.ack?.();
      return;
    }
    if (signature && seen.has(signature)) {
      logger.warn({ timestamp }, 'Slack request rejected: replayed delivery (its signature was already processed)');
      await args.ack?.();
      return;
    }
    if (signature) seen.set(signature, Number.isFinite(timestamp) ? timestamp : now);
    await args.next();
  };
}

function registerVoteHandlers(app: App, options: SlackAppOptions): void {
  app.action<BlockAction<ButtonAction>>(APPROVE_ACTION, async ({ ack, body, client }) => {
    await ack();
    const requestId = body.actions[0]!.value ?? '';
    const reply = (text: string) => replyEphemeral(client, body.channel?.id, body.user.id, text, options.logger);
    const approver = await resolveApprover(options, client, body.user.team_id ?? body.team?.id, body.user.id);
    if (!approver.ok) return reply(approver.reason);

    const answer = await vote(options, requestId, approver.principal, 'approve', undefined, `slack-${body.actions[0]!.action_ts}-${body.user.id}`);
    await reply(describeAnswer('approve', answer));
  });

  app.action<BlockAction<ButtonAction>>(DENY_ACTION, async ({ ack, body, client }) => {
    await ack();
    const requestId = body.actions[0]!.value ?? '';
    // The trigger id expires three seconds after the click, so the modal opens before anything slower.
    await client.views.open({
      trigger_id: body.trigger_id,
      view: {
        type: 'modal',
        callback_id: DENY_MODAL,
        private_metadata: JSON.stringify({ requestId, channel: body.channel?.id }),
        title: { type: 'plain_text', text: 'Deny access request' },
        submit: { type: 'plain_text', text: 'Deny' },
        close: { type: 'plain_text', text: 'Cancel' },
        blocks: [
          {
            type: 'input',
            block_id: 'reason',
            label: { type: 'plain_text', text: 'Why is it denied? The requester sees this.' },
            element: { type: 'plain_text_input', action_id: 'reason', multiline: true, min_length: 5, max_length: 500 },
          },
        ],
      },
    });
  });

  app.view<ViewSubmitAction>(DENY_MODAL, async ({ ack, body, view, client }) => {
    const reason = view.state.values.reason?.reason?.value?.trim() ?? '';
    if (reason.length < 5) {
      await ack({ response_action: 'errors', errors: { reason: 'Give a reason of at least 5 characters.' } });
      return;
    }
    await ack();
    const { requestId, channel } = parseMetadata(view.private_metadata);
    const reply = (text: string) => replyEphemeral(client, channel, body.user.id, text, options.logger);
    const approver = await resolveApprover(options, client, body.user.team_id ?? body.team?.id, body.user.id);
    if (!approver.ok) return reply(approver.reason);

    const answer = await vote(options, requestId, approver.principal, 'deny', reason, `slack-view-${view.id}`);
    await reply(describeAnswer('deny', answer));
  });
}

/** Resolves a Slack account to an approver identity: the directory's mapping, then email if enabled. */
async function resolveApprover(
  options: SlackAppOptions,
  client: App['client'],
  team: string | undefined,
  user: string,
): Promise<{ ok: true; principal: string } | { ok: false; reason: string }> {
  const directory = options.directory();
  const mapped = team ? directory.bySlackAccount(team, user) : undefined;
  if (mapped) return { ok: true, principal: mapped };

  if (options.matchByEmail) {
    const info = await client.users.info({ user });
    const email = info.user?.profile?.email;
    const byEmail = email ? directory.byEmail(email) : undefined;
    if (byEmail) return { ok: true, principal: byEmail };
  }
  options.logger.warn({ team, user }, 'Slack user is not mapped to an approver');
  return {
    ok: false,
    reason: `Your Slack account (team ${team ?? 'unknown'}, user ${user}) is not mapped to an approver. Ask an administrator to add it to the approver directory.`,
  };
}

/** Mints a vote token for `principal` bound to this request and decision, and casts the vote. */
async function vote(
  options: SlackAppOptions,
  requestId: string,
  principal: string,
  decision: 'approve' | 'deny',
  reason: string | undefined,
  updateId: string,
): Promise<VoteAnswer> {
  if (!principal.startsWith('user:')) {
    return { accepted: false, reason: `${principal} is not a person; only people (user:NAME) approve in Slack` };
  }
  try {
    const identityToken = await mintVoteToken(options, principal.slice('user:'.length), requestId, decision);
    const answer = await castVote(options.temporal, requestId, { decision, identityToken, reason, via: 'slack' }, { updateId });
    options.logger.info(
      { requestId, approver: principal, decision, accepted: answer.accepted, counted: answer.accepted && answer.counted },
      'Slack vote handled',
    );
    return answer;
  } catch (err) {
    options.logger.error({ requestId, approver: principal, decision, error: (err as Error).message }, 'Slack vote failed');
    return { accepted: false, reason: 'The vote could not be delivered to the request; try again in a moment.' };
  }
}

async function mintVoteToken(options: SlackAppOptions, subject: string, requestId: string, decision: 'approve' | 'deny'): Promise<string> {
  const key = await importJWK(options.voteKey, 'ES256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ [VOTE_REQUEST_CLAIM]: requestId, [VOTE_DECISION_CLAIM]: decision })
    .setProtectedHeader({ alg: 'ES256', kid: options.voteKey.kid, typ: 'JWT' })
    .setIssuer(options.voteIssuer)
    .setAudience(options.voteAudience ?? 'jit-access')
    .setSubject(subject)
    .setIssuedAt(now)
    .setExpirationTime(now + VOTE_TOKEN_TTL_SECONDS)
    .setJti(randomUUID())
    .sign(key);
}

/** Turns a vote's outcome into the sentence the clicker sees. */
export function describeAnswer(decision: 'approve' | 'deny', answer: VoteAnswer): string {
  const noun = decision === 'approve' ? 'approval' : 'denial';
  if (!answer.accepted) return `Your ${noun} was not accepted: ${sentence(answer.reason)}`;
  if (!answer.counted) return `Your ${noun} did not count: ${sentence(answer.rejectedBecause ?? 'no reason given')}`;
  if (decision === 'deny') return 'Your denial counted; the request is denied.';
  return `Your approval counted: ${answer.approvals} of ${answer.quorum}.`;
}

function sentence(text: string): string {
  return text.endsWith('.') ? text : `${text}.`;
}

async function replyEphemeral(client: App['client'], channel: string | undefined, user: string, text: string, logger: Logger): Promise<void> {
  if (!channel) return;
  try {
    await client.chat.postEphemeral({ channel, user, text });
  } catch (err) {
    logger.warn({ channel, user, error: (err as Error).message }, 'ephemeral reply not sent');
  }
}

function parseMetadata(text: string): { requestId: string; channel?: string } {
  try {
    const parsed = JSON.parse(text) as { requestId?: unknown; channel?: unknown };
    return { requestId: String(parsed.requestId ?? ''), channel: typeof parsed.channel === 'string' ? parsed.channel : undefined };
  } catch {
    return { requestId: '' };
  }
}

/** Adapts pino to Bolt's logger interface, so Bolt's own lines (signature failures included) are structured. */
function toBoltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const join = (parts: unknown[]) => parts.map((part) => (part instanceof Error ? part.message : String(part))).join(' ');
  return {
    debug: (...parts) => logger.debug({ source: 'bolt' }, join(parts)),
    info: (...parts) => logger.info({ source: 'bolt' }, join(parts)),
    warn: (...parts) => logger.warn({ source: 'bolt' }, join(parts)),
    error: (...parts) => logger.error({ source: 'bolt' }, join(parts)),
    setLevel: (next) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}
