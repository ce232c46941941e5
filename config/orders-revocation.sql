-- Revocation for the orders database, run by Vault in one transaction. It ends the user's sessions, hands
-- objects the user created to orders_owner and drops the user. A user that is already gone is skipped, so a
-- repeated revocation succeeds.
DO $$
BEGIN
  IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{{name}}') THEN
    PERFORM pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';
    EXECUTE format('REASSIGN OWNED BY %I TO orders_owner', '{{name}}');
    EXECUTE format('DROP OWNED BY %I', '{{name}}');
    EXECUTE format('DROP ROLE %I', '{{name}}');
  END IF;
END
$$;
