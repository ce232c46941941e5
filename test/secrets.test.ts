/**
 * Secrets stay out of Temporal history and logs: the identity token, the credential's wrapping token and the
 * password are searched for in the raw history the server stores and in everything a worker process printed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { TestWorkflowEnvironment } from '@temporalio/testing';

import { codecFromKeys, jitDataConverter } from '../client/codec';
import { requestAccess } from '../client/sdk';
import { statusQuery } from '../workflows/definitions';
import type { WorkerSettings } from '../worker/settings';
import { startCodecServer } from '../worker/codec-server';
import { startTestIssuer, type TestIssuer } from './helpers/issuer';
import { connectTestEnvironment, eventually, loadStackEnv, spawnWorkerProcess, workerSettings, type WorkerProcess } from './helpers/stack';

describe('payload codec', () => {
  const key = () => randomBytes(32).toString('base64');

  it('round-trips a payload and hides its data', async () => {
    const codec = codecFromKeys(`k1:${key()}`);
    const payload = { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('{"password":"s3cret"}') };
    const [sealed] = await codec.encode([payload]);
    assert.equal(Buffer.from(sealed!.metadata!.encoding!).toString(), 'binary/encrypted');
    assert.equal(Buffer.from(sealed!.metadata!['encryption-key-id']!).toString(), 'k1');
    assert.ok(!Buffer.from(sealed!.data!).toString('latin1').includes('s3cret'));
    const [opened] = await codec.decode([sealed!]);
    assert.equal(Buffer.from(opened!.data!).toString(), '{"password":"s3cret"}');
  });

  it('decrypts with an older key after rotation', async () => {
    const old = key();
    const [sealed] = await codecFromKeys(`k1:${old}`).encode([{ metadata: {}, data: Buffer.from('x') }]);
    const rotated = codecFromKeys(`k2:${key()},k1:${old}`);
    assert.equal(Buffer.from((await rotated.decode([sealed!]))[0]!.data!).toString(), 'x');
    const [resealed] = await rotated.encode([{ metadata: {}, data: Buffer.from('x') }]);
    assert.equal(Buffer.from(resealed!.metadata!['encryption-key-id']!).toString(), 'k2');
  });

  it('names an unknown key id', async () => {
    const [sealed] = await codecFromKeys(`old:${key()}`).encode([{ metadata: {}, data: Buffer.from('x') }]);
    await assert.rejects(codecFromKeys(`new:${key()}`).decode([sealed!]), /unknown codec key "old"; add it to JIT_CODEC_KEYS/);
  });

  it('rejects a tampered payload', async () => {
    const codec = codecFromKeys(`k1:${key()}`);
    const [sealed] = await codec.encode([{ metadata: {}, data: Buffer.from('amount=1') }]);
    const data = Buffer.from(sealed!.data!);
    data[20] = data[20]! ^ 1;
    await assert.rejects(codec.decode([{ ...sealed!, data }]));
  });

  it('explains malformed keys without echoing them', () => {
    assert.throws(() => codecFromKeys('k1:c2hvcnQ='), /key "k1" must decode to 32 bytes, got 5/);
    assert.throws(() => codecFromKeys('no-id'), /entries must be ID:BASE64KEY/);
    assert.throws(() => codecFromKeys(''), /JIT_CODEC_KEYS is empty/);
    assert.throws(() => jitDataConverter(''), /JIT_CODEC_KEYS is not set/);
  });
});

describe('codec server', () => {
  it('decodes payloads for the UI origin', async () => {
    const codec = codecFromKeys(`k1:${randomBytes(32).toString('base64')}`);
    const { server, url } = await startCodecServer(codec, 0, 'http://127.0.0.1:8233');
    try {
      const [sealed] = await codec.encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"hello"') }]);
      const body = {
        payloads: [
          {
            metadata: Object.fromEntries(Object.entries(sealed!.metadata!).map(([k, v]) => [k, Buffer.from(v!).toString('base64')])),
            data: Buffer.from(sealed!.data!).toString('base64'),
          },
        ],
      };
      const response = await fetch(`${url}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('access-control-allow-origin'), 'http://127.0.0.1:8233');
      const decoded = (await response.json()) as { payloads: Array<{ data: string }> };
      assert.equal(Buffer.from(decoded.payloads[0]!.data, 'base64').toString(), '"hello"');

      const preflight = await fetch(`${url}/decode`, { method: 'OPTIONS' });
      assert.equal(preflight.status, 204);
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /X-Namespace/);

      const wrong = await fetch(`${url}/other`, { method: 'POST', body: '{}' });
      assert.equal(wrong.status, 404);
      const broken = await fetch(`${url}/decode`, { method: 'POST', body: 'not json' });
      assert.equal(broken.status, 400);
    } finally {
      server.close();
    }
  });
});

describe('secrets in history and logs', () => {
  let issuer: TestIssuer;
  let settings: WorkerSettings;
  let env: TestWorkflowEnvironment;
  let worker: WorkerProcess;

  before(async () => {
    issuer = await startTestIssuer();
    settings = workerSettings(issuer);
    env = await connectTestEnvironment(settings);
    worker = await spawnWorkerProcess(settings, 'debug');
  });

  after(async () => {
    worker?.child.kill('SIGKILL');
    await env?.teardown();
    issuer?.close();
  });

  it('finds no token or password in raw history or logs', async () => {
    const identityToken = await issuer.mint('ci:deploy-pipeline');
    const grant = await requestAccess(
      env.client,
      {
        identityToken,
        entitlement: 'orders-db-staging-auto',
        environment: 'staging',
        durationSeconds: 3,
        reason: 'check that no secret reaches the history',
        ticket: 'OPS-99',
      },
      { taskQueue: settings.JIT_TASK_QUEUE, vaultAddr: loadStackEnv().VAULT_ADDR },
    );
    const handle = env.client.workflow.getHandle(grant.requestId);
    await eventually('the revocation', 30_000, async () => ((await handle.query(statusQuery)).phase === 'revoked' ? true : undefined));

    const secrets = {
      identityToken,
      wrappingToken: grant.status.grant!.wrappingToken,
      password: grant.credential!.password,
    };
    assert.ok(secrets.password.length >= 16, 'the password is too short to search for');
    assert.ok(secrets.wrappingToken.length > 10, 'the wrapping token is too short to search for');

    // The history exactly as the server stores it, without the client's codec.
    const raw = await env.client.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: grant.requestId },
    });
    const rawText = JSON.stringify(raw.history, (_key, value) =>
      value instanceof Uint8Array ? Buffer.from(value).toString('latin1') : value,
    );
    // Search attributes are stored unencrypted: finding one shows the search reads the payload bytes.
    assert.ok(rawText.includes('orders-db-staging-auto'), 'the raw history should contain the entitlement search attribute');
    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(!rawText.includes(secret), `the raw history contains the ${name}`);
      assert.ok(!worker.output().includes(secret), `the worker's log contains the ${name}`);
    }

    // The same history read through the codec still has what an authorized operator needs.
    const decoded = JSON.stringify(await handle.query(statusQuery));
    assert.ok(decoded.includes(grant.status.grant!.username));
  });
});
