/**
 * docker-compose.yml is checked with Debian's docker-compose, which parses and resolves the file without a
 * Docker engine.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { ROOT } from './helpers/stack';

function compose(file: string, ...args: string[]) {
  return spawnSync('docker-compose', ['--project-directory', ROOT, '-f', file, ...args], { cwd: ROOT, encoding: 'utf8' });
}

describe('docker-compose.yml', () => {
  const file = join(ROOT, 'docker-compose.yml');

  it('is valid and defines the whole stack', () => {
    const result = compose(file, 'config', '--services');
    assert.equal(result.status, 0, result.stderr);
    const services = result.stdout.trim().split('\n').sort();
    assert.deepEqual(services, [
      'orders-db',
      'temporal',
      'temporal-db',
      'temporal-search-attributes',
      'temporal-ui',
      'vault',
      'vault-setup',
      'worker',
    ]);
  });

  it('publishes ports on 127.0.0.1 only', () => {
    const resolved = execFileSync('docker-compose', ['-f', file, 'config'], { cwd: ROOT, encoding: 'utf8' });
    // docker-compose 1.29 prints each port as HOST_IP:HOST_PORT:CONTAINER_PORT/PROTOCOL.
    const published = resolved.match(/^\s*- (\S+:)?\d+:\d+\/tcp$/gm) ?? [];
    assert.equal(published.length, 4, resolved);
    for (const port of published) assert.match(port, /- 127\.0\.0\.1:\d+:\d+\/tcp$/);
  });

  it('rejects a broken file', () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'jit-compose-')), 'docker-compose.yml');
    writeFileSync(broken, readFileSync(file, 'utf8').replace('depends_on:\n      temporal-db:', 'depends_on:\n      missing-db:'));
    const result = compose(broken, 'config', '-q');
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /missing-db/);
  });
});
