import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseAccessRequest } from '../workflows/request';

const valid = {
  identityToken: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln',
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
    ['a source address that is not IP', { sourceIp: 'ci-runner-7' }, /sourceIp: sourceIp must be an IPv4 or IPv6 address/],
    ['uppercase entitlement', { entitlement: 'Orders' }, /entitlement: use 1 to 63 lowercase letters/],
    ['zero duration', { durationSeconds: 0 }, /durationSeconds must be at least 1 \(got 0\)/],
    ['fractional duration', { durationSeconds: 1.5 }, /durationSeconds must be a whole number/],
    ['window over 12 hours', { durationSeconds: 50_000 }, /at most 43200 \(12 hours\)/],
    ['short reason', { reason: 'because' }, /reason must say in at least 10 characters/],
    ['malformed ticket', { ticket: 'chg 1042' }, /ticket: use a tracker id such as OPS-1234/],
    ['unknown field', { role: 'admin' }, /Unrecognized key.*role/],
    ['a requester field', { requester: 'ci:x' }, /Unrecognized key.*requester/],
  ];
  for (const [name, change, message] of rejected) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseAccessRequest({ ...valid, ...change }), message);
    });
  }

  it('never echoes the identity token', () => {
    const secret = 'not-a-jwt-but-secret-looking-value';
    assert.throws(
      () => parseAccessRequest({ ...valid, identityToken: secret }),
      (err: Error) => {
        assert.match(err.message, /identityToken: identityToken must be a compact JWT/);
        assert.ok(!err.message.includes(secret));
        return true;
      },
    );
  });

  it('accepts IPv4 and IPv6 source addresses', () => {
    assert.equal(parseAccessRequest({ ...valid, sourceIp: '10.20.4.7' }).sourceIp, '10.20.4.7');
    assert.equal(parseAccessRequest({ ...valid, sourceIp: '2001:db8::7' }).sourceIp, '2001:db8::7');
  });

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
