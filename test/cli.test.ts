/**
 * The `jit` command as a user runs it: a separate process, against the test stack, with an in-process worker.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import type { AccessRequestStatus } from '../workflows/definitions';
import { eventually, free127Port, ROOT, startHarness, type Harness } from './helpers/stack';

const run = promisify(execFile);
let harness: Harness;

async function jit(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    // The same file `npx jit` runs: the bin link npm creates for this package's own devDependency on itself.
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'node_modules', '.bin', 'jit'), ...args], {
      cwd: ROOT,
      env: { ...process.env, TEMPORAL_ADDRESS: harness.settings.TEMPORAL_ADDRESS, JIT_TASK_QUEUE: harness.settings.JIT_TASK_QUEUE },
    });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const failed = err as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

before(async () => {
  harness = await startHarness();
});

after(async () => {
  await harness?.stop();
});

describe('jit CLI', () => {
  it('requests, approves, shows, lists and releases', async () => {
    const requested = await jit(
      'request', '--json',
      '--entitlement', 'orders-db-readwrite',
      '--token', await harness.issuer.mint('ci:deploy-pipeline'),
      '--environment', 'production',
      '--duration', '2m',
      '--reason', 'apply the schema migration of release 4.2.0',
      '--ticket', 'CHG-1042',
      '--task', 'run=1042',
    );
    assert.equal(requested.code, 0, requested.stderr);
    const { requestId } = JSON.parse(requested.stdout) as { requestId: string };
    assert.match(requestId, /^jit-orders-db-readwrite-[0-9a-f]{8}$/);

    await eventually('pending approval', 20_000, async () => {
      const shown = await jit('status', requestId, '--json');
      return (JSON.parse(shown.stdout) as AccessRequestStatus).phase === 'pending-approval' || undefined;
    });

    const self = await jit('approve', requestId, '--token', await harness.issuer.mint('ci:deploy-pipeline'));
    assert.equal(self.code, 4);
    assert.equal(self.stdout.trim(), 'approval by ci:deploy-pipeline not counted: the requester cannot approve or deny its own request');

    const unsigned = await jit('approve', requestId, '--token', 'e30.e30.');
    assert.equal(unsigned.code, 4);
    assert.equal(unsigned.stdout.trim(), 'approval by unverified not counted: the identity token was rejected: the token is unsigned (alg "none")');

    const approved = await jit('approve', requestId, '--token', await harness.issuer.mint('user:alice'));
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(approved.stdout.trim(), 'approval by user:alice counted (1 of 1 approvals)');

    const granted = await eventually('the grant', 20_000, async () => {
      const shown = await jit('status', requestId);
      return shown.stdout.includes(': granted') ? shown.stdout : undefined;
    });
    assert.match(granted, /policy at issue: allow/);
    assert.match(granted, /approve by user:alice via cli at .*: counted/);
    assert.match(granted, /granted: user v-/);

    const listed = await eventually('the request in the visibility store', 20_000, async () => {
      const rows = JSON.parse((await jit('list', '--json', '--status', 'granted', '--requester', 'ci:deploy-pipeline')).stdout) as Array<{ requestId: string; started: string }>;
      return rows.find((row) => row.requestId === requestId);
    });
    assert.deepEqual(listed, {
      requestId,
      status: 'granted',
      requester: 'ci:deploy-pipeline',
      entitlement: 'orders-db-readwrite',
      environment: 'production',
      started: listed.started,
    });

    const released = await jit('release', requestId);
    assert.equal(released.code, 0, released.stderr);
    await eventually('the revocation', 20_000, async () => {
      const shown = JSON.parse((await jit('status', requestId, '--json')).stdout) as AccessRequestStatus;
      return shown.phase === 'revoked' ? shown : undefined;
    });
    const final = await jit('status', requestId);
    assert.match(final.stdout, /revoked at \S+ \(released by ci:deploy-pipeline\), \d+\.\ds after the release/);

    const again = await jit('release', requestId);
    assert.equal(again.code, 1);
    assert.equal(again.stderr.trim(), `jit: request ${requestId} has already ended (revoked); nothing to do`);
    const missing = await jit('release', 'jit-no-such-request');
    assert.equal(missing.stderr.trim(), 'jit: no access request with id jit-no-such-request; "jit list" shows the current ones');
  });

  it('denies with a reason', async () => {
    const requested = await jit(
      'request', '--json', '-e', 'orders-db-readwrite', '--token', await harness.issuer.mint('ci:deploy-pipeline'), '--environment', 'production',
      '-d', '60', '-r', 'apply the schema migration of release 4.2.0', '-t', 'CHG-1043',
    );
    const { requestId } = JSON.parse(requested.stdout) as { requestId: string };
    await eventually('pending approval', 20_000, async () => {
      const shown = JSON.parse((await jit('status', requestId, '--json')).stdout) as AccessRequestStatus;
      return shown.phase === 'pending-approval' || undefined;
    });
    const bare = await jit('deny', requestId, '--token', await harness.issuer.mint('user:bob'));
    assert.notEqual(bare.code, 0);
    assert.match(bare.stderr, /required option '-r, --reason <text>' not specified/);

    const denied = await jit('deny', requestId, '--token', await harness.issuer.mint('user:bob'), '--reason', 'freeze until Monday');
    assert.equal(denied.code, 0, denied.stderr);
    assert.equal(denied.stdout.trim(), 'denial by user:bob counted');
    const shown = await eventually('the denial', 20_000, async () => {
      const status = JSON.parse((await jit('status', requestId, '--json')).stdout) as AccessRequestStatus;
      return status.phase === 'denied' ? status : undefined;
    });
    assert.equal(shown.outcome, 'denied by user:bob: freeze until Monday');
  });

  it('names a bad duration and the fix', async () => {
    const result = await jit(
      'request', '-e', 'orders-db-readwrite', '--token', 'a.b.c', '--environment', 'production',
      '-d', '10 minutes', '-r', 'apply the schema migration', '-t', 'CHG-1',
    );
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /"10 minutes" is not a duration; use 90s, 15m or 2h/);
  });

  it('names an invalid request field', async () => {
    const result = await jit(
      'request', '-e', 'orders-db-readwrite', '--token', await harness.issuer.mint('ci:deploy-pipeline'), '--environment', 'production',
      '-d', '60', '-r', 'apply the schema migration', '-t', 'change-1',
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /ticket: use a tracker id such as OPS-1234 \(got "change-1"\)/);
  });

  it('requires an identity token', async () => {
    const result = await jit(
      'request', '-e', 'orders-db-readwrite', '--environment', 'production', '-d', '60', '-r', 'apply the schema migration', '-t', 'CHG-1',
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /an identity token is required: pass --token, --token-file or set JIT_IDENTITY_TOKEN/);
  });

  it('reads the token from a file', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'jit-token-')), 'token');
    writeFileSync(file, `${await harness.issuer.mint('ci:deploy-pipeline')}\n`);
    const result = await jit(
      'request', '--json', '-e', 'orders-db-readwrite', '--token-file', file, '--environment', 'staging',
      '-d', '60', '-r', 'apply the schema migration', '-t', 'CHG-1', '--wait',
    );
    assert.equal(result.code, 3, 'a policy deny exits with 3');
    const status = JSON.parse(result.stdout) as AccessRequestStatus;
    assert.equal(status.requester, 'ci:deploy-pipeline');
    assert.equal(status.phase, 'denied');
  });

  it('reports an unknown request id', async () => {
    const result = await jit('status', 'jit-does-not-exist');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no access request with id jit-does-not-exist/);
  });

  it('explains an unreachable Temporal server', async () => {
    const port = await free127Port();
    const result = await jit('--address', `127.0.0.1:${port}`, 'list');
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`cannot reach Temporal at 127.0.0.1:${port}.*npm run stack -- start`));
  });
});
