import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { loadCatalog } from '../activities/catalog';
import { evaluate, matchesIdentity } from '../activities/policy';
import { parseAccessRequest } from '../workflows/request';
import { TEST_CATALOG } from './helpers/stack';

const catalog = loadCatalog(TEST_CATALOG);
const now = new Date('2026-12-04T10:00:00Z');
const request = parseAccessRequest({
  requester: 'ci:deploy-pipeline',
  entitlement: 'orders-db-readwrite',
  environment: 'production',
  durationSeconds: 300,
  reason: 'apply the schema migration of release 4.2.0',
  ticket: 'CHG-1042',
});

function writeCatalog(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'jit-catalog-')), 'catalog.json');
  writeFileSync(path, content);
  return path;
}

describe('policy rules', () => {
  it('allows a request that meets every rule', () => {
    const decision = evaluate(catalog, request, 'request', now);
    assert.equal(decision.allow, true);
    assert.equal(decision.policyVersion, catalog.version);
    assert.equal(decision.maxDurationSeconds, 600);
    assert.deepEqual(decision.vault, { mount: 'database', templateRole: 'orders-readwrite' });
    assert.ok(decision.reasons.every((reason) => !reason.startsWith('FAIL')));
  });

  it('removes the requester from the approvers', () => {
    const decision = evaluate(catalog, request, 'request', now);
    assert.deepEqual(decision.approval?.approvers, ['user:alice', 'user:bob']);
  });

  it('denies an unknown entitlement and lists the known ones', () => {
    const decision = evaluate(catalog, { ...request, entitlement: 'payroll-admin' }, 'request', now);
    assert.equal(decision.allow, false);
    assert.match(decision.reasons[0]!, /FAIL entitlement exists: payroll-admin is not in the catalog \(known: orders-db-readwrite/);
  });

  it('does not treat prototype keys as entitlements', () => {
    const decision = evaluate(catalog, { ...request, entitlement: 'constructor' }, 'request', now);
    assert.equal(decision.allow, false);
  });

  const violations: Array<[string, Partial<typeof request>, RegExp]> = [
    ['wrong environment', { environment: 'staging' }, /FAIL environment matches: environment staging does not match .* production/],
    ['duration over the maximum', { durationSeconds: 601 }, /FAIL duration within the maximum: requested 601s exceeds the maximum of 600s/],
    ['requester not listed', { requester: 'user:mallory' }, /FAIL requester may request this entitlement: user:mallory/],
  ];
  for (const [name, change, reason] of violations) {
    it(`denies ${name} with the reason`, () => {
      const decision = evaluate(catalog, { ...request, ...change }, 'request', now);
      assert.equal(decision.allow, false);
      assert.ok(decision.reasons.some((line) => reason.test(line)), decision.reasons.join('\n'));
      assert.equal(decision.approval, undefined);
      assert.equal(decision.vault, undefined);
    });
  }

  it('reports every failed rule, not only the first', () => {
    const decision = evaluate(catalog, { ...request, environment: 'staging', durationSeconds: 9999 }, 'request', now);
    assert.equal(decision.reasons.filter((line) => line.startsWith('FAIL')).length, 2);
  });

  it('denies when too few approvers remain besides the requester', () => {
    const path = writeCatalog(
      JSON.stringify({
        entitlements: {
          solo: {
            description: 'one approver, who is also the requester',
            environment: 'production',
            requesters: ['user:alice'],
            maxDurationSeconds: 60,
            vault: { mount: 'database', templateRole: 'orders-readwrite' },
            approval: { approvers: ['user:alice'], quorum: 1, deadlineSeconds: 60 },
          },
        },
      }),
    );
    const decision = evaluate(loadCatalog(path), { ...request, requester: 'user:alice', entitlement: 'solo', durationSeconds: 60 }, 'request', now);
    assert.equal(decision.allow, false);
    assert.match(decision.reasons.at(-1)!, /FAIL enough approvers: 1 approval\(s\) needed but only 0/);
  });

  it('matches exact identities and prefixes', () => {
    assert.equal(matchesIdentity('ci:*', 'ci:deploy-pipeline'), true);
    assert.equal(matchesIdentity('ci:deploy-pipeline', 'ci:deploy-pipeline'), true);
    assert.equal(matchesIdentity('ci:deploy', 'ci:deploy-pipeline'), false);
    assert.equal(matchesIdentity('ci:*', 'agent:ci'), false);
  });
});

describe('entitlement catalog', () => {
  it('names the file when it is missing', () => {
    assert.throws(() => loadCatalog('/nonexistent/catalog.json'), /cannot read entitlement catalog \/nonexistent\/catalog.json.*JIT_CATALOG/);
  });

  it('names the file when it is not JSON', () => {
    const path = writeCatalog('{ "entitlements": ');
    assert.throws(() => loadCatalog(path), new RegExp(`entitlement catalog ${path} is not valid JSON`));
  });

  it('names the field and the fix when invalid', () => {
    const path = writeCatalog(
      JSON.stringify({
        entitlements: {
          broken: {
            description: 'quorum larger than the approver list',
            environment: 'production',
            requesters: ['ci:*'],
            maxDurationSeconds: 60,
            vault: { mount: 'database', templateRole: 'orders-readwrite' },
            approval: { approvers: ['user:alice'], quorum: 2, deadlineSeconds: 60 },
          },
        },
      }),
    );
    assert.throws(() => loadCatalog(path), /entitlements\.broken\.approval\.approvers: approvers must list at least quorum identities/);
  });

  it('rejects a maximum above 12 hours', () => {
    const content = JSON.parse(JSON.stringify(require(TEST_CATALOG)));
    content.entitlements['orders-db-readwrite'].maxDurationSeconds = 86_400;
    assert.throws(() => loadCatalog(writeCatalog(JSON.stringify(content))), /maxDurationSeconds/);
  });

  it('versions the catalog by content', () => {
    const text = JSON.stringify(require(TEST_CATALOG));
    const first = loadCatalog(writeCatalog(text));
    const second = loadCatalog(writeCatalog(text.replace('"deadlineSeconds":60', '"deadlineSeconds":61')));
    assert.match(first.version, /^sha256:[0-9a-f]{16}$/);
    assert.notEqual(first.version, second.version);
  });
});
