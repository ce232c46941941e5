#!/usr/bin/env bash
# The test command. It starts a test stack of its own (real Temporal, Vault and PostgreSQL on free 127.0.0.1
# ports, in .jit/test-stack), type-checks and runs every test file. The last file checks that no credential
# the tests issued is left in Vault or PostgreSQL. The stack stops on exit.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export JIT_STATE_DIR="${JIT_TEST_STATE_DIR:-$ROOT/.jit/test-stack}"
ensure_node_modules
if ! command -v docker-compose >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || die "docker-compose is missing; install Debian's docker-compose package (sudo apt-get install docker-compose)"
  step "Installing docker-compose from Debian's packages, to validate docker-compose.yml"
  run_with_heartbeat "apt-get install docker-compose" "${TMPDIR:-/tmp}/jit-apt-docker-compose.log" \
    bash -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose' ||
    die "installing docker-compose failed; run apt-get install docker-compose by hand and rerun"
fi
trap '"$ROOT/scripts/stack.sh" stop' EXIT
"$ROOT/scripts/stack.sh" start --no-worker

step "Type-checking"
(cd "$ROOT" && npx tsc --noEmit -p .)

step "Running the tests"
# One file at a time, in name order: the files share one Vault and one PostgreSQL, and a 2-core machine gains
# nothing from parallel workers. zz-leftovers.test.ts sorts last and checks that every grant was revoked.
cd "$ROOT"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
node --import tsx --test --test-concurrency=1 test/*.test.ts
