# Vault policy for the jit-access worker: only what issuance, read-back and revocation need.
# The stack script installs it as "jit-worker" and gives the worker a token with no other policy.

# Read the entitlements' template roles, whose statements each grant copies, and list the roles so the
# reconciler can find per-grant roles that no running workflow owns.
path "database/roles/*" {
  capabilities = ["read", "list"]
}

path "database/roles" {
  capabilities = ["list"]
}

# Create and delete the per-grant roles. NOTE: writing a role means choosing its SQL statements, so this
# token can run any statement the database connection's user may run; keep that user's rights narrow.
path "database/roles/jit-*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Issue a credential from a per-grant role.
path "database/creds/jit-*" {
  capabilities = ["read"]
}

# Wrap the credential so its password never enters Temporal history.
path "sys/wrapping/wrap" {
  capabilities = ["update"]
}

# Revoke all leases of a grant; revoke-prefix requires sudo.
path "sys/leases/revoke-prefix/database/creds/jit-*" {
  capabilities = ["update", "sudo"]
}

# Read back that no lease of a grant is left; listing leases requires sudo.
path "sys/leases/lookup/database/creds/jit-*" {
  capabilities = ["list", "sudo"]
}
