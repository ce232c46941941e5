/**
 * Deploy safety: histories recorded from earlier runs (a grant waiting for approval, one inside its window, one
 * revoked) replay against the current workflow code. A change that would strand a running grant, such as a
 * reordered activity or timer, fails here. Guard such a change with `patched()`, then record again with
 * scripts/record-histories.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';

import { jitDataConverter } from '../client/codec';
import { HISTORY_CODEC_KEYS, HISTORY_DIR, RECORDED_STATES, RECORDED_VERSIONS } from './helpers/histories';

describe('recorded histories', () => {
  for (const version of RECORDED_VERSIONS) {
    for (const state of RECORDED_STATES) {
      it(`replays ${state} from ${version}`, async () => {
        const history = temporal.api.history.v1.History.decode(readFileSync(join(HISTORY_DIR, version, `${state}.pb`)));
        assert.ok((history.events?.length ?? 0) > 3, 'the recording has events');
        await Worker.runReplayHistory(
          { workflowsPath: require.resolve('../workflows'), dataConverter: jitDataConverter(HISTORY_CODEC_KEYS) },
          history,
          `recorded-${version}-${state}`,
        );
      });
    }
  }

  it('fails when the workflow code changes incompatibly', async () => {
    const history = temporal.api.history.v1.History.decode(readFileSync(join(HISTORY_DIR, 'current', 'inside-window.pb')));
    await assert.rejects(
      Worker.runReplayHistory(
        { workflowsPath: require.resolve('./fixtures/changed-workflow'), dataConverter: jitDataConverter(HISTORY_CODEC_KEYS) },
        history,
        'recorded-changed',
      ),
      /[Nn]ondetermini/,
    );
  });
});
