/**
 * `jit policy validate|test|explain` as a policy author runs them: a separate process, no servers needed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

import { ROOT } from './helpers/stack';

const run = promisify(execFile);

async function jit(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, 'node_modules', '.bin', 'jit'), ...args], { cwd: ROOT });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const failed = err as { stdout: string; stderr: string; code: number };
    return { stdout: failed.stdout, stderr: failed.stderr, code: failed.code };
  }
}

describe('jit policy', () => {
  it('validates the example policy', async () => {
    const result = await jit('policy', 'validate');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^valid: 18 policies \(sha256:[0-9a-f]{16}\), entitlements orders-db-readwrite, orders-db-admin/);
  });

  it('names file and line of a broken policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jit-policies-'));
    cpSync(join(ROOT, 'config', 'policies'), dir, { recursive: true });
    writeFileSync(join(dir, 'broken.cedar'), '\n\npermit (principal, action, resource) when { context.ticket == };\n');
    const result = await jit('policy', 'validate', '--policies', dir);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`${dir}/broken.cedar:3:\\d+: .*hint: `));
  });

  it('runs the example cases', async () => {
    const result = await jit('policy', 'test', 'config/policy-tests');
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /^PASS deploy pipeline in the change window$/m);
    assert.match(result.stdout, /^12 passed, 0 failed$/m);
  });

  it('fails a case whose decision differs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jit-cases-'));
    writeFileSync(
      join(dir, 'wrong.json'),
      JSON.stringify({
        name: 'expects an allow on a Sunday',
        identity: { principal: 'ci:acme/orders-deploy', claims: { release_approved: true } },
        request: { entitlement: 'orders-db-readwrite', environment: 'production', sourceIp: '10.20.4.7', durationSeconds: 60, reason: 'apply the migration', ticket: 'CHG-1' },
        at: '2026-12-06T10:00:00Z',
        expect: { allow: true },
      }),
    );
    const result = await jit('policy', 'test', dir);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^FAIL expects an allow on a Sunday\n\s+expected allow, got deny$/m);
    assert.match(result.stdout, /FAIL request\/deploy-in-change-window/);
  });

  it('names an invalid case file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jit-cases-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ name: 'no request', at: 'yesterday' }));
    const result = await jit('policy', 'test', dir);
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`case file ${dir}/bad.json is invalid: 0.identity: `));
  });

  it('keeps the worker from starting on a broken policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jit-policies-'));
    cpSync(join(ROOT, 'config', 'policies'), dir, { recursive: true });
    writeFileSync(join(dir, 'broken.cedar'), 'permit (principal, action, resource) when { context.nope };\n');
    const worker = await run(process.execPath, ['--import', 'tsx', 'worker/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        JIT_POLICY_DIR: dir,
        JIT_ISSUERS: join(ROOT, 'config', 'issuers.example.json'),
        VAULT_ADDR: 'http://127.0.0.1:1',
        VAULT_TOKEN: 'unused',
        JIT_CODEC_KEYS: `k1:${randomBytes(32).toString('base64')}`,
        TEMPORAL_ADDRESS: '127.0.0.1:1',
      },
    }).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => err,
    );
    assert.equal(worker.code, 1);
    assert.match(worker.stdout, /worker failed to start or crashed/);
    assert.match(worker.stdout, new RegExp(`${dir}/broken.cedar:1 `));
  });

  it('explains a deny with its reasons', async () => {
    const result = await jit(
      'policy', 'explain', '--principal', 'ci:acme/orders-deploy', '--claim', 'release_approved=true',
      '-e', 'orders-db-readwrite', '--environment', 'production', '--source-ip', '192.0.2.1', '-d', '600', '-t', 'CHG-1',
      '--at', '2026-12-01T10:00:00Z',
    );
    assert.equal(result.code, 2);
    assert.match(result.stdout, /^DENY \(policies sha256:/);
    assert.match(result.stdout, /FAIL request\/deploy-from-ci-network: production database write may only be requested from the CI network/);
  });
});
