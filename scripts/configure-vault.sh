#!/bin/sh
# Configures a Vault-API server for jit-access: the database secrets engine against the orders database, the
# entitlement's template role, and the worker's policy. Prints a new worker token on stdout.
# POSIX sh, so it also runs in the Vault container image of docker-compose.yml.
#
# Needs: VAULT_ADDR, VAULT_TOKEN (a token that may configure mounts and policies), JIT_POSTGRES_HOSTPORT
# (host:port of the orders database as Vault reaches it), JIT_VAULT_ADMIN_PASSWORD, and JIT_CONFIG_DIR
# (this repository's config directory). VAULT_BIN names the vault or bao binary; the default is vault.
set -eu
vault="${VAULT_BIN:-vault}"
: "${JIT_POSTGRES_HOSTPORT:?set JIT_POSTGRES_HOSTPORT to host:port of the orders database}"
: "${JIT_VAULT_ADMIN_PASSWORD:?set JIT_VAULT_ADMIN_PASSWORD to the vault_admin user password}"
: "${JIT_CONFIG_DIR:?set JIT_CONFIG_DIR to the repository config directory}"

if ! "$vault" secrets list -format=json | grep -q '"database/"'; then
  "$vault" secrets enable database >/dev/null
fi

"$vault" write database/config/orders \
  plugin_name=postgresql-database-plugin \
  connection_url="postgresql://{{username}}:{{password}}@$JIT_POSTGRES_HOSTPORT/orders?sslmode=disable" \
  username=vault_admin password="$JIT_VAULT_ADMIN_PASSWORD" \
  allowed_roles='*' verify_connection=true >/dev/null

# The entitlement's template role. Each grant copies these statements into a role of its own whose TTL is the
# window. The new user is granted to vault_admin so that revocation may reassign and drop what it owns.
"$vault" write database/roles/orders-readwrite \
  db_name=orders default_ttl=1h max_ttl=1h \
  creation_statements=@"$JIT_CONFIG_DIR/orders-creation.sql" \
  revocation_statements=@"$JIT_CONFIG_DIR/orders-revocation.sql" >/dev/null

"$vault" policy write jit-worker "$JIT_CONFIG_DIR/vault-worker-policy.hcl" >/dev/null
"$vault" token create -orphan -policy=jit-worker -no-default-policy -ttl=768h -field=token
