/**
 * Approvals from Slack through the real stack: the Slack app on a local port, the worker posting to a fake
 * Slack Web API, and signed interaction payloads posted the way Slack posts them.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';

import type { WorkflowHandle } from '@temporalio/client';
import pino from 'pino';

import { APPROVE_ACTION, DENY_ACTION } from '../activities/slack-message';
import { startAccessRequest, waitForDecision } from '../client/sdk';
import { createSlackApp, type SlackApp } from '../client/slack-app';
import { releaseSignal, revokeSignal, statusQuery, type AccessRequestStatus } from '../workflows/definitions';
import type { AccessRequestInput } from '../workflows/request';
import {
  buttonClick,
  deliver,
  denySubmission,
  signInteraction,
  startFakeSlack,
  type FakeSlack,
  type SlackCall,
} from './helpers/fake-slack';
import { eventually, letVaultIn, lockOutVault, startHarness, voteAs, type Harness } from './helpers/stack';

const SIGNING_SECRET = 'test-signing-secret-8f2a61c0';
const BOT_TOKEN = 'xoxb-test-bot-token';
const TEAM = 'T0TEST';
const CHANNEL = 'C0TESTDB';

let harness: Harness;
let fake: FakeSlack;
let slack: SlackApp;
let eventsUrl: string;
const logLines: string[] = [];

/** Starts a Slack app on a free port over the harness's client and directory. */
async function startApp(matchByEmail: boolean): Promise<{ app: SlackApp; url: string }> {
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  const app = createSlackApp({
    signingSecret: SIGNING_SECRET,
    botToken: BOT_TOKEN,
    apiUrl: fake.apiUrl,
    directory: () => harness.policy.sources.directory,
    matchByEmail,
    // The test issuer's key replaces the app's own signing key: the worker trusts it for `user` tokens.
    voteKey: harness.issuer.privateJwk,
    voteIssuer: harness.issuer.issuerFor('user'),
    temporal: harness.env.client,
    logger,
  });
  const port = await app.start(0, '127.0.0.1');
  return { app, url: `http://127.0.0.1:${port}/slack/events` };
}

before(async () => {
  fake = await startFakeSlack(BOT_TOKEN, [{ id: 'U0EVE', team: TEAM, email: 'bob@example.com' }]);
  harness = await startHarness({ JIT_SLACK_BOT_TOKEN: BOT_TOKEN, JIT_SLACK_API_URL: fake.apiUrl, JIT_SLACK_CHANNEL: 'C0DEFAULT' });
  ({ app: slack, url: eventsUrl } = await startApp(false));
});

after(async () => {
  // Never leave Vault locked out for the tests that follow.
  await letVaultIn();
  await slack?.stop();
  await harness?.stop();
  await fake?.close();
});

const base: Omit<AccessRequestInput, 'identityToken'> = {
  entitlement: 'orders-db-slack',
  environment: 'production',
  durationSeconds: 60,
  reason: 'apply the schema migration of release 4.3.0',
  ticket: 'CHG-2077',
};

async function start(principal = 'ci:deploy-pipeline', change: Partial<AccessRequestInput> = {}, claims = {}): Promise<WorkflowHandle> {
  const identityToken = await harness.issuer.mint(principal, claims);
  return startAccessRequest(harness.env.client, { ...base, identityToken, ...change }, { taskQueue: harness.settings.JIT_TASK_QUEUE });
}

/** Waits for the request's top-level message and returns where it is. */
async function requestMessage(requestId: string): Promise<{ channel: string; ts: string; call: SlackCall }> {
  const call = await eventually(`the Slack message of ${requestId}`, 15_000, async () =>
    fake.callsOf('chat.postMessage').find((entry) => !entry.args.thread_ts && String(entry.args.text).includes(requestId)),
  );
  return { channel: String(call.result.channel), ts: String(call.result.ts), call };
}

/** Sends a click as `user` and returns the HTTP response and the delivery, so it can be sent again. */
async function click(url: string, actionId: string, user: string, requestId: string, message: { channel: string; ts: string }) {
  const delivery = signInteraction(
    buttonClick({ actionId, requestId, user, team: TEAM, channel: message.channel, messageTs: message.ts }),
    { signingSecret: SIGNING_SECRET },
  );
  return { delivery, response: await deliver(url, delivery) };
}

/** Waits for the next ephemeral reply to `user`, after the `seen` replies that user already got. */
async function nextReply(user: string, seen: number): Promise<string> {
  const reply = await eventually(`ephemeral reply ${seen + 1} to ${user}`, 15_000, async () => fake.callsOf('chat.postEphemeral').filter((call) => call.args.user === user)[seen]);
  return String(reply.args.text);
}

function repliesTo(user: string): number {
  return fake.callsOf('chat.postEphemeral').filter((call) => call.args.user === user).length;
}

/** Returns the texts of every edit of one message, oldest first. */
function edits(ts: string): string[] {
  return fake.callsOf('chat.update').filter((call) => call.args.ts === ts).map((call) => String(call.args.text));
}

function hasButtons(call: SlackCall): boolean {
  return JSON.stringify(call.args.blocks ?? []).includes(APPROVE_ACTION);
}

async function waitForPhase(handle: WorkflowHandle, phase: AccessRequestStatus['phase']): Promise<AccessRequestStatus> {
  return eventually(`${handle.workflowId} to reach ${phase}`, 30_000, async () => {
    const status = await handle.query(statusQuery);
    return status.phase === phase ? status : undefined;
  });
}

describe('Slack approvals', () => {
  it('grants after two distinct approvers click in time', async () => {
    const handle = await start();
    const message = await requestMessage(handle.workflowId);
    assert.equal(message.channel, CHANNEL);
    assert.equal(hasButtons(message.call), true);
    const posted = JSON.stringify(message.call.args.blocks);
    for (const expected of ['ci:deploy-pipeline', 'orders-db-slack', 'production', '60 s', 'CHG-2077', 'apply the schema migration', 'PASS identity']) {
      assert.ok(posted.includes(expected), `the message shows ${expected}`);
    }

    // alice approves: counted, and the message shows one of two approvals.
    const first = await click(eventsUrl, APPROVE_ACTION, 'U0ALICE', handle.workflowId, message);
    assert.equal(first.response.status, 200);
    assert.equal(await nextReply('U0ALICE', 0), 'Your approval counted: 1 of 2.');
    await eventually('the message to show one approval', 10_000, async () =>
      edits(message.ts).find((text) => text.includes('1 of 2') && text.includes('approved by user:alice')),
    );

    // A double click is a new delivery: the workflow rejects it and gives the reason.
    await click(eventsUrl, APPROVE_ACTION, 'U0ALICE', handle.workflowId, message);
    assert.equal(await nextReply('U0ALICE', 1), 'Your approval did not count: user:alice has already approved.');

    // The same delivery sent again is dropped before it reaches the workflow.
    const replayed = await deliver(eventsUrl, first.delivery);
    assert.equal(replayed.status, 200);
    assert.ok(logLines.some((line) => line.includes('replayed delivery')), 'the replay is logged');

    // Slack's own retry carries the same payload with a new timestamp and signature. The update id, taken from
    // the click's action_ts, makes Temporal return the first result without recording a vote.
    const retried = signInteraction(JSON.parse(new URLSearchParams(first.delivery.body).get('payload')!) as object, { signingSecret: SIGNING_SECRET, timestamp: Math.floor(Date.now() / 1000) + 1 });
    assert.equal((await deliver(eventsUrl, { ...retried, headers: { ...retried.headers, 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' } })).status, 200);
    assert.equal(await nextReply('U0ALICE', 2), 'Your approval counted: 1 of 2.');

    // A delivery older than five minutes, a forged signature and another app's secret are rejected with 401.
    const stale = signInteraction(buttonClick({ actionId: APPROVE_ACTION, requestId: handle.workflowId, user: 'U0BOB', team: TEAM, channel: CHANNEL, messageTs: message.ts }), {
      signingSecret: SIGNING_SECRET,
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    assert.equal((await deliver(eventsUrl, stale)).status, 401);
    assert.ok(logLines.some((line) => line.includes('stale')), 'the stale timestamp is logged as the reason');
    const forged = { ...first.delivery, headers: { ...first.delivery.headers, 'x-slack-signature': `v0=${'0'.repeat(64)}` } };
    assert.equal((await deliver(eventsUrl, forged)).status, 401);
    assert.ok(logLines.some((line) => line.includes('signature mismatch')), 'the forged signature is logged as the reason');
    const otherSecret = signInteraction(buttonClick({ actionId: APPROVE_ACTION, requestId: handle.workflowId, user: 'U0BOB', team: TEAM, channel: CHANNEL, messageTs: message.ts }), {
      signingSecret: 'not-this-apps-secret',
    });
    assert.equal((await deliver(eventsUrl, otherSecret)).status, 401);

    // Policy does not let mallory approve, and an unmapped account gets the fix: map it in the directory.
    await click(eventsUrl, APPROVE_ACTION, 'U0MALLORY', handle.workflowId, message);
    assert.match(await nextReply('U0MALLORY', 0), /^Your approval did not count: user:mallory may not approve orders-db-slack under the current policy/);
    await click(eventsUrl, APPROVE_ACTION, 'U0EVE', handle.workflowId, message);
    assert.equal(
      await nextReply('U0EVE', 0),
      'Your Slack account (team T0TEST, user U0EVE) is not mapped to an approver. Ask an administrator to add it to the approver directory.',
    );

    const waiting = await handle.query(statusQuery);
    assert.equal(waiting.phase, 'pending-approval');
    assert.deepEqual(
      waiting.votes.map((vote) => [vote.approver, vote.counted, vote.via]),
      [
        ['user:alice', true, 'slack'],
        ['user:alice', false, 'slack'],
        ['user:mallory', false, 'slack'],
      ],
    );

    // The reminder goes to the approvers who have not approved; the escalation to the second group.
    const reminder = await eventually('the reminder', 10_000, async () =>
      fake.callsOf('chat.postMessage').find((call) => call.args.thread_ts === message.ts && String(call.args.text).includes('Reminder')),
    );
    assert.equal(reminder.args.text, '<@U0BOB> <@U0CAROL> Reminder: this request still needs 1 approval(s).');
    const escalation = await eventually('the escalation', 10_000, async () =>
      fake.callsOf('chat.postMessage').find((call) => call.args.thread_ts === message.ts && String(call.args.text).includes('Escalated')),
    );
    assert.equal(escalation.args.text, '<@U0DAVE> Escalated to dba-leads: this request still needs 1 approval(s).');

    // bob makes the quorum: granted, and the buttons are gone.
    await click(eventsUrl, APPROVE_ACTION, 'U0BOB', handle.workflowId, message);
    assert.equal(await nextReply('U0BOB', 0), 'Your approval counted: 2 of 2.');
    const granted = await waitForDecision(handle);
    assert.equal(granted.phase, 'granted');
    const grantedEdit = await eventually('the message to show the grant', 10_000, async () =>
      fake.callsOf('chat.update').find((call) => call.args.ts === message.ts && String(call.args.text).includes('granted')),
    );
    assert.equal(hasButtons(grantedEdit), false);
    assert.ok(String(grantedEdit.args.text).includes(`until ${granted.grant!.expiresAt}`));

    // A click after the decision gets a plain reply.
    await click(eventsUrl, APPROVE_ACTION, 'U0CAROL', handle.workflowId, message);
    assert.equal(await nextReply('U0CAROL', 0), 'Your approval was not accepted: the request is granted, not waiting for approval.');

    await handle.signal(releaseSignal, { by: 'ci:deploy-pipeline' });
    assert.equal(((await handle.result()) as AccessRequestStatus).phase, 'revoked');
    await eventually('the message to show the release', 10_000, async () =>
      edits(message.ts).find((text) => text.includes('released by ci:deploy-pipeline; revoked and verified')),
    );
    await click(eventsUrl, APPROVE_ACTION, 'U0CAROL', handle.workflowId, message);
    assert.equal(
      await nextReply('U0CAROL', 1),
      `Your approval was not accepted: request ${handle.workflowId} has ended (revoked); votes no longer count.`,
    );

    // Each state the request passed through shows on the message, in order.
    const states = ['waiting for approval: 1 of 2', 'approved (approved by user:alice, user:bob); issuing', 'granted (approved by user:alice, user:bob) until', 'released by'];
    let from = 0;
    const texts = edits(message.ts);
    for (const state of states) {
      const index = texts.findIndex((text, position) => position >= from && text.includes(state));
      assert.ok(index >= 0, `the message shows "${state}" after the earlier states; edits: ${JSON.stringify(texts)}`);
      from = index;
    }
  });

  it("refuses the requester's own click", async () => {
    const handle = await start('user:alice', {}, { groups: ['db-owners'] });
    const message = await requestMessage(handle.workflowId);
    const seen = repliesTo('U0ALICE');
    await click(eventsUrl, APPROVE_ACTION, 'U0ALICE', handle.workflowId, message);
    assert.equal(await nextReply('U0ALICE', seen), 'Your approval did not count: the requester cannot approve or deny its own request.');
    await handle.signal(revokeSignal, { by: 'user:operator', reason: 'test cleanup' });
    assert.equal(((await handle.result()) as AccessRequestStatus).phase, 'denied');
  });

  it('asks a denier for the reason and ends the request', async () => {
    const handle = await start();
    const message = await requestMessage(handle.workflowId);
    const opened = fake.callsOf('views.open').length;
    const { response } = await click(eventsUrl, DENY_ACTION, 'U0BOB', handle.workflowId, message);
    assert.equal(response.status, 200);
    const modal = await eventually('the reason modal', 10_000, async () => fake.callsOf('views.open')[opened]);
    assert.equal((modal.args.view as { callback_id: string }).callback_id, 'jit_deny_reason');

    const viewId = String((modal.result.view as { id: string }).id);
    const tooShort = signInteraction(denySubmission({ viewId, requestId: handle.workflowId, channel: CHANNEL, user: 'U0BOB', team: TEAM, reason: 'no' }), { signingSecret: SIGNING_SECRET });
    const refused = await deliver(eventsUrl, tooShort);
    assert.equal(refused.status, 200);
    assert.deepEqual(JSON.parse(refused.body), { response_action: 'errors', errors: { reason: 'Give a reason of at least 5 characters.' } });
    assert.equal((await handle.query(statusQuery)).phase, 'pending-approval');

    const seen = repliesTo('U0BOB');
    const submitted = signInteraction(
      denySubmission({ viewId, requestId: handle.workflowId, channel: CHANNEL, user: 'U0BOB', team: TEAM, reason: 'the release is on hold' }),
      { signingSecret: SIGNING_SECRET },
    );
    assert.equal((await deliver(eventsUrl, submitted)).status, 200);
    assert.equal(await nextReply('U0BOB', seen), 'Your denial counted; the request is denied.');

    const final = (await handle.result()) as AccessRequestStatus;
    assert.equal(final.phase, 'denied');
    assert.equal(final.outcome, 'denied by user:bob: the release is on hold');
    const deniedEdit = await eventually('the message to show the denial', 10_000, async () =>
      fake.callsOf('chat.update').find((call) => call.args.ts === message.ts && String(call.args.text).includes('denied by user:bob')),
    );
    assert.equal(hasButtons(deniedEdit), false);
  });

  it('acknowledges before the work is done', async () => {
    const handle = await start();
    const message = await requestMessage(handle.workflowId);
    fake.delay('chat.postEphemeral', 4_000);
    try {
      const seen = repliesTo('U0CAROL');
      const { response } = await click(eventsUrl, APPROVE_ACTION, 'U0CAROL', handle.workflowId, message);
      assert.equal(response.status, 200);
      assert.equal(repliesTo('U0CAROL'), seen, 'the HTTP answer came before the reply was sent');
      assert.equal(await nextReply('U0CAROL', seen), 'Your approval counted: 1 of 2.');
      const reply = fake.callsOf('chat.postEphemeral').filter((call) => call.args.user === 'U0CAROL')[seen]!;
      assert.ok(response.receivedAt < reply.answeredAt, 'Slack got its answer before the work finished');
    } finally {
      fake.delay('chat.postEphemeral', 0);
    }
    await handle.signal(revokeSignal, { by: 'user:operator', reason: 'test cleanup' });
    await handle.result();
  });

  it('matches by profile email only when enabled', async () => {
    const handle = await start();
    const message = await requestMessage(handle.workflowId);
    const byEmail = await startApp(true);
    try {
      const seen = repliesTo('U0EVE');
      await click(byEmail.url, APPROVE_ACTION, 'U0EVE', handle.workflowId, message);
      assert.equal(await nextReply('U0EVE', seen), 'Your approval counted: 1 of 2.');
      assert.equal(fake.callsOf('users.info').at(-1)!.args.user, 'U0EVE');
      const status = await handle.query(statusQuery);
      assert.equal(status.votes.at(-1)!.approver, 'user:bob');
    } finally {
      await byEmail.app.stop();
    }
    await handle.signal(revokeSignal, { by: 'user:operator', reason: 'test cleanup' });
    await handle.result();
  });

  it('shows an expired request on its message', async () => {
    const handle = await start('ci:deploy-pipeline', { entitlement: 'orders-db-two-approvers', durationSeconds: 3 });
    const message = await requestMessage(handle.workflowId);
    assert.equal(message.channel, 'C0DEFAULT');
    await waitForPhase(handle, 'expired');
    const expiredEdit = await eventually('the message to show the expiry', 10_000, async () =>
      fake.callsOf('chat.update').find((call) => call.args.ts === message.ts && String(call.args.text).includes('expired')),
    );
    assert.equal(hasButtons(expiredEdit), false);

    const seen = repliesTo('U0BOB');
    await click(eventsUrl, APPROVE_ACTION, 'U0BOB', handle.workflowId, message);
    assert.equal(await nextReply('U0BOB', seen), `Your approval was not accepted: request ${handle.workflowId} has ended (expired); votes no longer count.`);
  });

  it('shows a late revocation on its message', async () => {
    const handle = await start();
    const message = await requestMessage(handle.workflowId);
    await voteAs(harness, handle.workflowId, 'user:alice', 'approve');
    await voteAs(harness, handle.workflowId, 'user:bob', 'approve');
    assert.equal((await waitForDecision(handle)).phase, 'granted');

    // PostgreSQL refuses Vault, so every revocation attempt fails until it lets Vault in again.
    await lockOutVault();
    try {
      await handle.signal(releaseSignal, { by: 'ci:deploy-pipeline' });
      const notice = await eventually('the late-revocation notice', 30_000, async () =>
        fake.callsOf('chat.postMessage').find((call) => call.args.thread_ts === message.ts && String(call.args.text).includes('Revocation late')),
      );
      assert.match(String(notice.args.text), /^:rotating_light: Revocation late: attempt 5 failed/);
      await eventually('the message to show the late revocation', 30_000, async () =>
        edits(message.ts).find((text) => text.includes('revocation late: still retrying')),
      );
      assert.equal((await handle.query(statusQuery)).revocationLate, true);
    } finally {
      await letVaultIn();
    }

    const final = (await handle.result()) as AccessRequestStatus;
    assert.equal(final.phase, 'revoked');
    assert.equal(final.revocationLate, undefined);
    await eventually('the message to show the verified revocation', 30_000, async () =>
      edits(message.ts).find((text) => text.includes('released by ci:deploy-pipeline; revoked and verified')),
    );
  });
});
