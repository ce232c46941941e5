/**
 * The request's message in the approvers' chat channel, seen from the workflow: post it when approval is
 * needed, edit it at every change of state, and reply in its thread with reminders and escalations.
 *
 * A chat outage must never hold up a grant or its revocation, so every call here gives up after a few
 * attempts, logs, and lets the lifecycle go on. The activities do nothing when the worker has no Slack token.
 */
import { log, proxyActivities } from '@temporalio/workflow';

import type { Activities } from '../activities';
import type { AccessRequestStatus } from './definitions';

const { postRequestMessage, updateRequestMessage, postThreadNotice } = proxyActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '5 seconds', maximumAttempts: 3 },
});

/** Posts and edits one request's message; every method swallows and logs failures. */
export class RequestMessage {
  /**
   * Edits run one after another, each rendering the status as it is when the edit starts, so an older state
   * can never overwrite a newer one.
   */
  private edits: Promise<void> = Promise.resolve();

  constructor(private readonly status: AccessRequestStatus) {}

  /** Posts the message with Approve and Deny buttons and remembers where it is. */
  async post(channel: string | undefined): Promise<void> {
    await this.attempt('post', async () => {
      this.status.slackMessage = (await postRequestMessage({ status: this.status, channel })) ?? undefined;
    });
  }

  /** Edits the message to show the current state; buttons stay only while the request waits for approval. */
  refresh(): Promise<void> {
    this.edits = this.edits.then(async () => {
      if (!this.status.slackMessage) return;
      await this.attempt('update', () => updateRequestMessage({ status: this.status, message: this.status.slackMessage! }));
    });
    return this.edits;
  }

  /** Replies in the message's thread, mentioning the Slack accounts of `approvers`. */
  async notice(text: string, approvers: string[]): Promise<void> {
    if (!this.status.slackMessage) return;
    await this.attempt('notice', () => postThreadNotice({ message: this.status.slackMessage!, text, approvers }));
  }

  private async attempt(what: string, call: () => Promise<unknown>): Promise<void> {
    try {
      await call();
    } catch (err) {
      log.warn('Slack message not sent; the request goes on without it', {
        requestId: this.status.requestId,
        what,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
