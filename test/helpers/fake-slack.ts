/**
 * A local stand-in for Slack in tests, on 127.0.0.1 only.
 *
 * `startFakeSlack` plays the Slack Web API for the methods jit-access calls (`chat.postMessage`,
 * `chat.update`, `chat.postEphemeral`, `users.info`, `views.open`, `auth.test`). It responds in Slack's wire
 * format: HTTP 200 with `ok: false` and an error code for failures, form or JSON request bodies, a bearer
 * token. Every call is recorded. `sendInteraction` plays Slack's side of interactivity: it signs a payload with
 * the app's signing secret the way Slack does and posts it to the app's endpoint.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';

/** One recorded Web API call. */
export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
  token: string | undefined;
  /** The fake's response body. */
  result: Record<string, unknown>;
  /** When the fake sent its response, in epoch milliseconds. */
  answeredAt: number;
}

/** A Slack workspace user that `users.info` returns. */
export interface FakeSlackUser {
  id: string;
  team: string;
  email?: string;
}

export interface FakeSlack {
  /** The Web API base URL to give clients, ending in `/api/`. */
  apiUrl: string;
  /** Every call so far, oldest first. */
  calls: SlackCall[];
  /** Calls of one method. */
  callsOf(method: string): SlackCall[];
  /** Delays the answers to one method, in milliseconds. */
  delay(method: string, ms: number): void;
  close(): Promise<void>;
}

/** Starts the fake Web API. Only `botToken` is accepted; other tokens get `invalid_auth`. */
export async function startFakeSlack(botToken: string, users: FakeSlackUser[] = []): Promise<FakeSlack> {
  const calls: SlackCall[] = [];
  const delays = new Map<string, number>();
  const messages = new Map<string, Record<string, unknown>>();
  let sequence = 0;

  const answer = (method: string, args: Record<string, unknown>): Record<string, unknown> => {
    switch (method) {
      case 'auth.test':
        return { ok: true, user_id: 'U0JITACCESS', bot_id: 'B0JITACCESS', team_id: 'T0TEST' };
      case 'chat.postMessage': {
        if (typeof args.channel !== 'string' || !args.channel) return { ok: false, error: 'channel_not_found' };
        sequence += 1;
        const ts = `1796400000.${String(sequence).padStart(6, '0')}`;
        const message = { text: args.text, blocks: args.blocks, thread_ts: args.thread_ts, ts };
        messages.set(`${args.channel}/${ts}`, message);
        return { ok: true, channel: args.channel, ts, message };
      }
      case 'chat.update': {
        const key = `${String(args.channel)}/${String(args.ts)}`;
        if (!messages.has(key)) return { ok: false, error: 'message_not_found' };
        messages.set(key, { text: args.text, blocks: args.blocks, ts: args.ts });
        return { ok: true, channel: args.channel, ts: args.ts, text: args.text };
      }
      case 'chat.postEphemeral':
        sequence += 1;
        return { ok: true, message_ts: `1796400000.${String(sequence).padStart(6, '0')}` };
      case 'users.info': {
        const user = users.find((candidate) => candidate.id === args.user);
        if (!user) return { ok: false, error: 'user_not_found' };
        return { ok: true, user: { id: user.id, team_id: user.team, profile: { email: user.email } } };
      }
      case 'views.open':
        if (typeof args.trigger_id !== 'string') return { ok: false, error: 'invalid_trigger_id' };
        sequence += 1;
        return { ok: true, view: { id: `V0${sequence}`, ...(parseJson(args.view) as object) } };
      default:
        return { ok: false, error: 'unknown_method' };
    }
  };

  const server: Server = createServer((request, response) => {
    void (async () => {
      const method = (request.url ?? '').replace(/^\/api\//, '').split('?')[0]!;
      const args = parseBody(request.headers['content-type'], await readBody(request));
      const token = bearer(request) ?? (typeof args.token === 'string' ? args.token : undefined);
      const wait = delays.get(method);
      if (wait) await new Promise((resolve) => setTimeout(resolve, wait));

      const body = token === botToken ? answer(method, args) : { ok: false, error: 'invalid_auth' };
      calls.push({ method, args, token, result: body, answeredAt: Date.now() });
      response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      response.end(JSON.stringify(body));
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    calls,
    callsOf: (method) => calls.filter((call) => call.method === method),
    delay: (method, ms) => delays.set(method, ms),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // Clients keep connections alive; closing them lets `close` finish now.
        server.closeAllConnections();
      }),
  };
}

/** How to sign an interaction; the defaults sign correctly, now. */
export interface SignOptions {
  signingSecret: string;
  /** Seconds since the epoch; defaults to now. */
  timestamp?: number;
  /** Replaces the computed signature, to forge one. */
  signature?: string;
}

/** A signed delivery: the exact bytes and headers, so a test can send it again unchanged. */
export interface SignedDelivery {
  body: string;
  headers: Record<string, string>;
}

/** Encodes an interaction payload as Slack does (`payload=<json>`, form-encoded) and signs it. */
export function signInteraction(payload: object, options: SignOptions): SignedDelivery {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  const signature = options.signature ?? `v0=${createHmac('sha256', options.signingSecret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': signature,
    },
  };
}

/** Posts a signed delivery to the app and returns the HTTP status, body and how long the answer took. */
export async function deliver(url: string, delivery: SignedDelivery): Promise<{ status: number; body: string; receivedAt: number }> {
  const response = await fetch(url, { method: 'POST', headers: delivery.headers, body: delivery.body });
  return { status: response.status, body: await response.text(), receivedAt: Date.now() };
}

/** Builds a block_actions payload for a click on one of the request message's buttons. */
export function buttonClick(options: {
  actionId: string;
  requestId: string;
  user: string;
  team: string;
  channel: string;
  messageTs: string;
  actionTs?: string;
}): object {
  const actionTs = options.actionTs ?? `${Date.now() / 1000}`;
  return {
    type: 'block_actions',
    team: { id: options.team, domain: 'jit-test' },
    user: { id: options.user, username: options.user.toLowerCase(), team_id: options.team },
    api_app_id: 'A0JITACCESS',
    token: 'legacy-verification-token',
    trigger_id: `${Date.now()}.trigger`,
    channel: { id: options.channel, name: 'db-access' },
    container: { type: 'message', message_ts: options.messageTs, channel_id: options.channel, is_ephemeral: false },
    message: { type: 'message', ts: options.messageTs, text: 'Access request' },
    actions: [
      { type: 'button', action_id: options.actionId, block_id: 'jit_vote', value: options.requestId, action_ts: actionTs, text: { type: 'plain_text', text: 'x' } },
    ],
  };
}

/** Builds a view_submission payload for the deny modal, with the reason typed in. */
export function denySubmission(options: { viewId: string; requestId: string; channel: string; user: string; team: string; reason: string }): object {
  return {
    type: 'view_submission',
    team: { id: options.team, domain: 'jit-test' },
    user: { id: options.user, username: options.user.toLowerCase(), team_id: options.team },
    api_app_id: 'A0JITACCESS',
    token: 'legacy-verification-token',
    trigger_id: `${Date.now()}.trigger`,
    view: {
      id: options.viewId,
      type: 'modal',
      callback_id: 'jit_deny_reason',
      private_metadata: JSON.stringify({ requestId: options.requestId, channel: options.channel }),
      hash: `${Date.now()}.hash`,
      state: { values: { reason: { reason: { type: 'plain_text_input', value: options.reason } } } },
    },
  };
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => (text += chunk));
    request.on('end', () => resolve(text));
    request.on('error', reject);
  });
}

/** Parses a Web API request body. Form bodies carry nested values (blocks, views) as JSON strings. */
function parseBody(contentType: string | undefined, text: string): Record<string, unknown> {
  if (contentType?.startsWith('application/json')) return JSON.parse(text || '{}') as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(text)) args[key] = key === 'blocks' || key === 'view' ? parseJson(value) : value;
  return args;
}

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function bearer(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  return header?.startsWith('Bearer ') ? header.slice('Bearer '.length) : undefined;
}
