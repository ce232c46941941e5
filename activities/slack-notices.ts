/**
 * Slack Web API calls made for the workflow: post the request's message, edit it as the request changes, and
 * reply in its thread with reminders, escalations and late-revocation alerts.
 *
 * Without a bot token every call logs once and does nothing, so a worker without Slack still runs requests.
 * Approvers then vote with `jit approve` and `jit deny`.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WebClient, type WebAPICallResult } from '@slack/web-api';

import type { AccessRequestStatus, SlackMessageRef } from '../workflows/definitions';
import type { PolicyStore } from './policy-store';
import { renderRequestMessage } from './slack-message';

/** The Slack settings the worker posts with. */
export interface SlackSettings {
  /** The bot token (`xoxb-...`); absent when Slack is not used. */
  botToken?: string;
  /** The Web API base URL, ending in `/`; Slack's own unless a test or proxy sets another. */
  apiUrl?: string;
  /** The channel id used when an entitlement names none. */
  defaultChannel?: string;
}

/** Calls the Slack Web API with the worker's bot token. */
export class SlackNotifier {
  private readonly client: WebClient | undefined;
  private warned = false;

  constructor(private readonly settings: SlackSettings, private readonly policy: PolicyStore) {
    if (settings.botToken) {
      // Temporal retries the activity, so the client itself does not retry; a rate limit fails the attempt.
      this.client = new WebClient(settings.botToken, {
        slackApiUrl: settings.apiUrl,
        retryConfig: { retries: 0 },
        rejectRateLimitedCalls: true,
        timeout: 5_000,
      });
    }
  }

  /** Posts the request's message; returns where it is, or null when Slack is off or no channel is set. */
  async post(status: AccessRequestStatus, channel: string | undefined): Promise<SlackMessageRef | null> {
    const client = this.enabled();
    const target = channel ?? this.settings.defaultChannel;
    if (!client) return null;
    if (!target) {
      Context.current().log.warn('no Slack channel for the request message; set approval.slackChannel or JIT_SLACK_CHANNEL', {
        requestId: status.requestId,
      });
      return null;
    }
    const result = await call(() => client.chat.postMessage({ channel: target, ...renderRequestMessage(status) }));
    return { channel: String(result.channel), ts: String(result.ts) };
  }

  /** Replaces the message's content with the request's current state. */
  async update(status: AccessRequestStatus, message: SlackMessageRef): Promise<void> {
    const client = this.enabled();
    if (!client) return;
    await call(() => client.chat.update({ channel: message.channel, ts: message.ts, ...renderRequestMessage(status) }));
  }

  /** Replies in the message's thread, mentioning the Slack accounts the directory lists for `approvers`. */
  async notice(message: SlackMessageRef, text: string, approvers: readonly string[] = []): Promise<void> {
    const client = this.enabled();
    if (!client) return;
    const mentions = approvers.flatMap((approver) => this.policy.sources.directory.slackUsersOf(approver)).map((user) => `<@${user}>`);
    const body = mentions.length > 0 ? `${mentions.join(' ')} ${text}` : text;
    await call(() => client.chat.postMessage({ channel: message.channel, thread_ts: message.ts, text: body }));
  }

  private enabled(): WebClient | undefined {
    if (!this.client && !this.warned) {
      this.warned = true;
      Context.current().log.info('Slack is not configured (no JIT_SLACK_BOT_TOKEN); request messages are skipped');
    }
    return this.client;
  }
}

/** Creates the message activities over one notifier. */
export function createSlackActivities(notifier: SlackNotifier) {
  return {
    /** Posts the approval message for a request that waits for approval. */
    async postRequestMessage(input: { status: AccessRequestStatus; channel?: string }): Promise<SlackMessageRef | null> {
      return notifier.post(input.status, input.channel);
    },

    /** Edits the request's message to show its current state. */
    async updateRequestMessage(input: { status: AccessRequestStatus; message: SlackMessageRef }): Promise<void> {
      await notifier.update(input.status, input.message);
    },

    /** Replies in the request message's thread. */
    async postThreadNotice(input: { message: SlackMessageRef; text: string; approvers: string[] }): Promise<void> {
      await notifier.notice(input.message, input.text, input.approvers);
    },
  };
}

/**
 * Runs one Web API call. Errors that a retry cannot fix (a bad token, an unknown channel, a missing scope) fail
 * the activity without retries and name Slack's error code.
 */
async function call<T extends WebAPICallResult>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error;
    const permanent = ['invalid_auth', 'not_authed', 'account_inactive', 'channel_not_found', 'not_in_channel', 'missing_scope', 'message_not_found'];
    if (code && permanent.includes(code)) {
      throw ApplicationFailure.nonRetryable(`Slack rejected the call: ${code}`, 'SlackApiError');
    }
    throw err;
  }
}
