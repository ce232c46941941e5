#!/bin/sh
# Runs once, when the orders-db container creates its cluster: sets up the orders database for Vault.
set -eu
psql -v ON_ERROR_STOP=1 -U postgres -d orders -v vault_admin_password="$JIT_VAULT_ADMIN_PASSWORD" -f /jit-config/orders-database.sql
