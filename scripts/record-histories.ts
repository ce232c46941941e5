/**
 * Records workflow histories for the replay test into test/histories/current: a grant waiting for approval,
 * one inside its window, and one revoked, each with its Slack message on a local fake Slack. Run it against
 * the test stack after a deliberate change of workflow behavior. Move the previous recordings to a folder of
 * their own first, add that folder to RECORDED_VERSIONS, and commit both:
 *
 *   JIT_STATE_DIR=.jit/test-stack npm run stack -- start --no-worker
 *   node --import tsx scripts/record-histories.ts
 *
 * The histories are encrypted with the public test key in test/helpers/histories.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

import { startAccessRequest, waitForDecision } from '../client/sdk';
import { releaseSignal, revokeSignal, statusQuery } from '../workflows/definitions';
import { startFakeSlack } from '../test/helpers/fake-slack';
import { HISTORY_CODEC_KEYS, HISTORY_DIR } from '../test/helpers/histories';
import { eventually, startHarness, voteAs } from '../test/helpers/stack';

async function save(handle: WorkflowHandle, state: string): Promise<void> {
  // Binary protobuf, the server's own encoding, so that replay reads exactly what was recorded.
  const file = join(HISTORY_DIR, 'current', `${state}.pb`);
  writeFileSync(file, temporal.api.history.v1.History.encode(await handle.fetchHistory()).finish());
  console.log(`recorded ${file}`);
}

async function main(): Promise<void> {
  const slack = await startFakeSlack('xoxb-recording');
  const harness = await startHarness({
    JIT_CODEC_KEYS: HISTORY_CODEC_KEYS,
    JIT_SLACK_BOT_TOKEN: 'xoxb-recording',
    JIT_SLACK_API_URL: slack.apiUrl,
    JIT_SLACK_CHANNEL: 'C0RECORDING',
  });
  const start = async (entitlement: string, environment: string, durationSeconds: number) =>
    startAccessRequest(
      harness.env.client,
      {
        identityToken: await harness.issuer.mint('ci:deploy-pipeline'),
        entitlement,
        environment,
        durationSeconds,
        reason: 'recorded for the replay test',
        ticket: 'CHG-1',
        task: { run: 'recording' },
      },
      { taskQueue: harness.settings.JIT_TASK_QUEUE },
    );
  const phase = (handle: WorkflowHandle, expected: string) =>
    eventually(`${handle.workflowId} to be ${expected}`, 30_000, async () => ((await handle.query(statusQuery)).phase === expected ? true : undefined));

  try {
    const waiting = await start('orders-db-readwrite', 'production', 30);
    await phase(waiting, 'pending-approval');
    await voteAs(harness, waiting.workflowId, 'user:mallory', 'approve');
    await save(waiting, 'waiting-for-approval');
    await waiting.signal(revokeSignal, { by: 'user:operator', reason: 'recording finished' });

    const granted = await start('orders-db-readwrite', 'production', 60);
    await phase(granted, 'pending-approval');
    await voteAs(harness, granted.workflowId, 'user:alice', 'approve');
    await waitForDecision(granted);
    await save(granted, 'inside-window');
    await granted.signal(releaseSignal, { by: 'ci:deploy-pipeline' });
    await phase(granted, 'revoked');
    await save(granted, 'revoked');
  } finally {
    await harness.stop();
    await slack.close();
  }
}

main().catch((err: Error) => {
  console.error(`recording failed: ${err.message}`);
  process.exit(1);
});
