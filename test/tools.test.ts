/**
 * scripts/tools.sh on a machine that has not built the servers yet, with a stand-in `go` that writes a
 * placeholder binary. Only the shell plumbing is under test here: the real builds run on every new machine.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { ROOT } from './helpers/stack';

function runTools(goScript: string) {
  const dir = mkdtempSync(join(tmpdir(), 'jit-tools-'));
  const bin = join(dir, 'bin');
  spawnSync('mkdir', ['-p', bin]);
  writeFileSync(join(bin, 'go'), `#!/bin/sh\n${goScript}\n`);
  chmodSync(join(bin, 'go'), 0o755);
  const vault = join(dir, 'vault');
  writeFileSync(vault, '#!/bin/sh\n');
  chmodSync(vault, 0o755);

  const cache = join(dir, 'cache');
  const result = spawnSync('bash', [join(ROOT, 'scripts', 'tools.sh')], {
    encoding: 'utf8',
    env: { PATH: `${bin}:/usr/bin:/bin`, HOME: dir, JIT_CACHE_DIR: cache, JIT_VAULT_BIN: vault },
  });
  return { ...result, cache, vault };
}

describe('tools.sh', () => {
  it('prints only the paths on stdout after a build', () => {
    const result = runTools('[ "$1" = install ] || exit 1\nprintf "#!/bin/sh\\n" > "$GOBIN/temporal" && chmod +x "$GOBIN/temporal"');
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n').slice(0, 2), [
      `TEMPORAL_BIN=${join(result.cache, 'temporal-cli-v1.5.1', 'temporal')}`,
      `VAULT_BIN=${result.vault}`,
    ]);
    assert.match(result.stdout.trim().split('\n')[2]!, /^PG_BIN_DIR=\/usr\/lib\/postgresql\/\d+\/bin$/);
    assert.match(result.stderr, /Building the Temporal CLI v1\.5\.1/);
    assert.match(result.stderr, /building temporal: done in \d+s/);
  });

  it('says which build failed and what to try', () => {
    const result = runTools('echo "go: module lookup disabled" >&2; exit 1');
    assert.notEqual(result.status, 0);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /building temporal failed after \d+s \(exit 1\)/);
    assert.match(result.stderr, /go: module lookup disabled/);
    assert.match(result.stderr, /building the Temporal CLI failed; check that the Go module proxy is reachable/);
  });
});
