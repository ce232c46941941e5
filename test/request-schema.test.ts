import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseAccessRequest } from '../workflows/request';

const valid = {
  requester: 'ci:deploy-pipeline',
  entitlement: 'orders-db-readwrite',
  environment: 'production',
  durationSeconds: 600,
  reason: 'apply the schema migration of release 4.2.0',
  ticket: 'CHG-1042',
};

describe('access request schema', () => {
  it('accepts a complete request and defaults task', () => {
    const request = parseAccessRequest(valid);
    assert.deepEqual(request.task, {});
    assert.equal(request.durationSeconds, 600);
  });

  it('keeps task metadata', () => {
    const request = parseAccessRequest({ ...valid, task: { run: '1042', commit: '9f2c1e7' } });
    assert.deepEqual(request.task, { run: '1042', commit: '9f2c1e7' });
  });

  const rejected: Array<[string, Record<string, unknown>, RegExp]> = [
    ['identity without a kind', { requester: 'deploy-pipeline' }, /requester: use KIND:NAME.*\(got "deploy-pipeline"\)/],
    ['uppercase entitlement', { entitlement: 'Orders' }, /entitlement: use 1 to 63 lowercase letters/],
    ['zero duration', { durationSeconds: 0 }, /durationSeconds must be at least 1 \(got 0\)/],
    ['fractional duration', { durationSeconds: 1.5 }, /durationSeconds must be a whole number/],
    ['window over 12 hours', { durationSeconds: 50_000 }, /at most 43200 \(12 hours\)/],
    ['short reason', { reason: 'because' }, /reason must say in at least 10 characters/],
    ['malformed ticket', { ticket: 'chg 1042' }, /ticket: use a tracker id such as OPS-1234/],
    ['unknown field', { role: 'admin' }, /Unrecognized key.*role/],
  ];
  for (const [name, change, message] of rejected) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseAccessRequest({ ...valid, ...change }), message);
    });
  }

  it('rejects a missing ticket by name', () => {
    const { ticket: _ticket, ...withoutTicket } = valid;
    assert.throws(() => parseAccessRequest(withoutTicket), /ticket: /);
  });

  it('lists every invalid field at once', () => {
    assert.throws(
      () => parseAccessRequest({ ...valid, durationSeconds: -1, ticket: 'x' }),
      (err: Error) => err.message.includes('durationSeconds') && err.message.includes('ticket'),
    );
  });
});
