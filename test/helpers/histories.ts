/**
 * Recorded workflow histories: what they are called and the test-only codec key they were encrypted with.
 * The key is public on purpose; it protects nothing but these recordings.
 */
import { join } from 'node:path';

import { ROOT } from './stack';

export const HISTORY_DIR = join(ROOT, 'test', 'histories');

export const HISTORY_CODEC_KEYS = 'recorded:q4uK6HqP0mOaQn8bq0h9yVw1m5lzC8sV0yQ2hJ0w7xQ=';

/** The moments of the lifecycle a running grant can be in when a new worker version is deployed. */
export const RECORDED_STATES = ['waiting-for-approval', 'inside-window', 'revoked'] as const;

/**
 * Sets of recordings, one folder each. `before-verified-votes` comes from workflow code that counted
 * approval signals by name; `current` from the code with the vote update and the Slack message. Both must replay.
 */
export const RECORDED_VERSIONS = ['before-verified-votes', 'current'] as const;
