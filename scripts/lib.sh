# Shared helpers for the project's shell scripts. Source it; it defines functions and paths, and runs nothing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Builds are cached outside the checkout, so a fresh clone on the same machine reuses them.
CACHE_DIR="${JIT_CACHE_DIR:-$HOME/.cache/jit-access}"

# Pinned server versions. The Vault version is fixed by tools/vault/go.mod.
TEMPORAL_CLI_VERSION="v1.5.1"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Runs a long command with its output in LOG, printing a line every 30 seconds so that it does not look
# like a hang. On failure prints the end of the log and returns the command's exit code.
run_with_heartbeat() {
  local label="$1" log="$2"
  shift 2
  local started=$SECONDS
  "$@" >"$log" 2>&1 &
  local pid=$! next=$((started + 30))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if [ "$SECONDS" -ge "$next" ]; then
      info "$label: $((SECONDS - started))s elapsed"
      next=$((next + 30))
    fi
  done
  local rc=0
  wait "$pid" || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf 'error: %s failed after %ss (exit %s); the end of %s:\n' "$label" "$((SECONDS - started))" "$rc" "$log" >&2
    tail -n 20 "$log" >&2
  else
    info "$label: done in $((SECONDS - started))s"
  fi
  return "$rc"
}

# Prints a free TCP port on 127.0.0.1: PREFERRED when it is free, otherwise one the kernel picks.
free_port() {
  node -e '
    const net = require("net");
    const tryListen = (port) => new Promise((resolve) => {
      const server = net.createServer();
      server.once("error", () => resolve(undefined));
      server.listen(port, "127.0.0.1", () => { const p = server.address().port; server.close(() => resolve(p)); });
    });
    (async () => { console.log((await tryListen(Number(process.argv[1]))) ?? (await tryListen(0))); })();
  ' "${1:-0}"
}

# Waits up to SECONDS for COMMAND to succeed, polling twice a second.
wait_for() {
  local label="$1" seconds="$2"
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
    sleep 0.5
  done
}

# Installs node_modules when they are missing or older than package-lock.json.
ensure_node_modules() {
  if [ ! -d "$ROOT/node_modules" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    step "Installing npm packages"
    (cd "$ROOT" && npm ci --no-audit --no-fund) || die "npm ci failed; check that the npm registry is reachable and rerun"
  fi
}
