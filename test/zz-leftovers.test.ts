/**
 * Runs last, because Node's test runner runs files in name order: once every test's grant has ended, neither
 * Vault nor PostgreSQL may hold a credential the tests issued.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { liveDatabaseLeases, liveDatabaseUsers } from './helpers/stack';

describe('after all tests', () => {
  it('leaves no lease in Vault', async () => {
    assert.deepEqual(await liveDatabaseLeases(), []);
  });

  it('leaves no Vault-created user in PostgreSQL', async () => {
    assert.deepEqual(await liveDatabaseUsers(), []);
  });
});
