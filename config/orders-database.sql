-- The target database of the example entitlement, run by psql as a superuser with
-- -v vault_admin_password=...: a table the demo writes to, a group role holding the entitlement's
-- privileges, an owner for objects a revoked user created, and the user Vault manages credentials with.
-- Safe to run again on an existing cluster.
SET client_min_messages = warning;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orders_owner') THEN CREATE ROLE orders_owner NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'orders_readwrite') THEN CREATE ROLE orders_readwrite NOLOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'vault_admin') THEN CREATE ROLE vault_admin LOGIN CREATEROLE; END IF;
END
$$;

-- Vault's user creates and drops the temporary users. It is not a superuser: CREATEROLE, admin of the two
-- group roles, and pg_signal_backend to end a revoked user's sessions.
ALTER ROLE vault_admin WITH LOGIN CREATEROLE PASSWORD :'vault_admin_password';
GRANT orders_owner, orders_readwrite TO vault_admin WITH ADMIN OPTION;
GRANT pg_signal_backend TO vault_admin;

CREATE TABLE IF NOT EXISTS deployments (
  id bigserial PRIMARY KEY,
  release text NOT NULL,
  deployed_by text NOT NULL DEFAULT current_user,
  deployed_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE deployments OWNER TO orders_owner;

GRANT USAGE, CREATE ON SCHEMA public TO orders_readwrite;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO orders_readwrite;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO orders_readwrite;
