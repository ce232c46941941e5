#!/usr/bin/env bash
# The chaos suite: runs each fault test JIT_CHAOS_TRIALS times (default 20) against a stack of its own, then
# prints one row per fault: trials, credentials issued, credentials leaked, and the maximum revocation lag.
# The faults: worker SIGKILL at each lifecycle step, a Temporal server restart, Vault paused, PostgreSQL
# refusing Vault, and a workflow terminated from the CLI, which the scheduled reconciler cleans up.
#   npm run chaos                   20 trials per fault, roughly 25 minutes on 2 cores
#   JIT_CHAOS_TRIALS=3 npm run chaos
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export JIT_STATE_DIR="${JIT_CHAOS_STATE_DIR:-$ROOT/.jit/chaos-stack}"
export JIT_CHAOS_TRIALS="${JIT_CHAOS_TRIALS:-20}"
export JIT_CHAOS_REPORT="$JIT_STATE_DIR/chaos-report.jsonl"
export LOG_LEVEL="${LOG_LEVEL:-warn}"
ensure_node_modules
trap '"$ROOT/scripts/stack.sh" stop' EXIT
"$ROOT/scripts/stack.sh" start --no-worker
rm -f "$JIT_CHAOS_REPORT"

step "Running each fault $JIT_CHAOS_TRIALS times"
cd "$ROOT"
status=0
node --import tsx --test --test-concurrency=1 \
  test/worker-crash.test.ts test/worker-kill-steps.test.ts test/server-restart.test.ts test/vault-outage.test.ts \
  test/postgres-refusal.test.ts test/terminate-reconcile.test.ts test/zz-leftovers.test.ts || status=$?

step "Results"
node -e '
  const rows = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
  const faults = new Map();
  for (const row of rows) {
    const total = faults.get(row.fault) ?? { trials: 0, issued: 0, leaked: 0, maxLag: 0 };
    total.trials += 1; total.issued += row.issued; total.leaked += row.leaked; total.maxLag = Math.max(total.maxLag, row.lagSeconds);
    faults.set(row.fault, total);
  }
  console.log(["fault".padEnd(46), "trials", "issued", "leaked", "max lag"].join("  "));
  for (const [fault, t] of faults) console.log([fault.padEnd(46), String(t.trials).padStart(6), String(t.issued).padStart(6), String(t.leaked).padStart(6), `${t.maxLag.toFixed(2)} s`.padStart(7)].join("  "));
' "$JIT_CHAOS_REPORT" || warn "no trial was recorded; see the test output above"
exit "$status"
