#!/usr/bin/env bash
# Finds or builds the servers the stack runs, and prints their paths as shell assignments:
#   eval "$(scripts/tools.sh)"   sets TEMPORAL_BIN, VAULT_BIN and PG_BIN_DIR.
# A binary named by JIT_TEMPORAL_BIN or JIT_VAULT_BIN, or a temporal, bao or vault on PATH, is used as is.
# Otherwise the Temporal CLI and Vault are built from their Go modules into the cache directory, once.
# Progress goes to stderr, so it shows even under eval; only the final assignments go to stdout. The find_*
# functions set variables instead of printing paths, because a $(...) capture would swallow their progress.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
exec 3>&1 1>&2

need_go() {
  command -v go >/dev/null 2>&1 || die "Go is required to build the servers; install Go 1.25 or newer, or set JIT_TEMPORAL_BIN and JIT_VAULT_BIN"
}

find_temporal() {
  if [ -n "${JIT_TEMPORAL_BIN:-}" ]; then
    [ -x "$JIT_TEMPORAL_BIN" ] || die "JIT_TEMPORAL_BIN=$JIT_TEMPORAL_BIN is not an executable file"
    TEMPORAL_BIN="$JIT_TEMPORAL_BIN"
    return
  fi
  if command -v temporal >/dev/null 2>&1; then
    TEMPORAL_BIN=$(command -v temporal)
    return
  fi
  TEMPORAL_BIN="$CACHE_DIR/temporal-cli-$TEMPORAL_CLI_VERSION/temporal"
  if [ ! -x "$TEMPORAL_BIN" ]; then
    step "Building the Temporal CLI $TEMPORAL_CLI_VERSION (Temporal Server 1.29.1 with the Web UI) from the Go module proxy"
    info "first run only: this takes about 3 to 4 minutes on 2 cores; the binary is cached in $(dirname "$TEMPORAL_BIN")"
    need_go
    mkdir -p "$(dirname "$TEMPORAL_BIN")"
    run_with_heartbeat "building temporal" "$CACHE_DIR/temporal-build.log" \
      env GOBIN="$(dirname "$TEMPORAL_BIN")" go install "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION" ||
      die "building the Temporal CLI failed; check that the Go module proxy is reachable (go env GOPROXY), or set JIT_TEMPORAL_BIN to an existing temporal binary"
  fi
}

find_vault() {
  if [ -n "${JIT_VAULT_BIN:-}" ]; then
    [ -x "$JIT_VAULT_BIN" ] || die "JIT_VAULT_BIN=$JIT_VAULT_BIN is not an executable file"
    VAULT_BIN="$JIT_VAULT_BIN"
    return
  fi
  for name in bao vault; do
    if command -v "$name" >/dev/null 2>&1; then
      VAULT_BIN=$(command -v "$name")
      return
    fi
  done
  # The cache key covers the wrapper module, so a change of pinned versions builds anew.
  local key
  key=$(cat "$ROOT"/tools/vault/{go.mod,go.sum,main.go,build.sh} | sha256sum | cut -c1-12)
  VAULT_BIN="$CACHE_DIR/vault-$key/vault"
  if [ ! -x "$VAULT_BIN" ]; then
    step "Building HashiCorp Vault $(awk '/^require github.com\/hashicorp\/vault /{print $3}' "$ROOT/tools/vault/go.mod") (MPL-2.0) from the Go module proxy"
    info "first run only: this takes about 10 minutes on 2 cores; the binary is cached in $(dirname "$VAULT_BIN")"
    need_go
    mkdir -p "$(dirname "$VAULT_BIN")"
    run_with_heartbeat "building vault" "$CACHE_DIR/vault-build.log" \
      "$ROOT/tools/vault/build.sh" "$CACHE_DIR/vault-src-$key" "$VAULT_BIN" ||
      die "building Vault failed; check that the Go module proxy is reachable (go env GOPROXY), or set JIT_VAULT_BIN to an existing vault or bao binary"
  fi
}

find_postgres() {
  PG_BIN_DIR=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$PG_BIN_DIR" ] || [ ! -x "$PG_BIN_DIR/initdb" ]; then
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL server binaries are missing; install Debian's postgresql package (sudo apt-get install postgresql)"
    step "Installing PostgreSQL from Debian's packages"
    run_with_heartbeat "apt-get install postgresql" "$CACHE_DIR/apt.log" \
      bash -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql' ||
      die "installing postgresql failed; run apt-get install postgresql by hand and rerun"
    PG_BIN_DIR=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
}

mkdir -p "$CACHE_DIR"
find_temporal
find_vault
find_postgres
for binary in "$TEMPORAL_BIN" "$VAULT_BIN" "$PG_BIN_DIR/initdb"; do
  [ -x "$binary" ] || die "$binary is missing or not executable after the build; see the logs in $CACHE_DIR"
done
printf 'TEMPORAL_BIN=%q\nVAULT_BIN=%q\nPG_BIN_DIR=%q\n' "$TEMPORAL_BIN" "$VAULT_BIN" "$PG_BIN_DIR" >&3
