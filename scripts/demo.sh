#!/usr/bin/env bash
# The main job: start the local stack (building the servers on first use), run one access request end to end,
# then stop the stack. JIT_KEEP_STACK=1 leaves the stack running afterwards for the Temporal UI and the CLI.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export JIT_STATE_DIR="${JIT_STATE_DIR:-$ROOT/.jit/stack}"
if [ "${JIT_KEEP_STACK:-0}" != 1 ]; then
  trap '"$ROOT/scripts/stack.sh" stop; info "the stack is stopped; JIT_KEEP_STACK=1 npm run demo keeps it running for the UI and the CLI"' EXIT
else
  trap 'info "the stack keeps running: source $JIT_STATE_DIR/stack.env to use the CLI, npm run stack -- stop to stop it"' EXIT
fi

"$ROOT/scripts/stack.sh" start
source "$JIT_STATE_DIR/stack.env"

step "Running the access request"
(cd "$ROOT" && node --import tsx scripts/demo.ts)
