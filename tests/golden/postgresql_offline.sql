-- metacrawl grants for datastore 'analytics': PostgreSQL
-- crawler user "metamapper", group role "metamapper_readers"
-- (not "metamapper": PostgreSQL users and groups are roles in one namespace,
-- and that name is the crawler user itself)
-- schemas in scope: "public", "sales"
--
-- Safe to run again: the roles are created only when missing, and GRANT
-- and ALTER DEFAULT PRIVILEGES leave grants that exist as they are.

-- The crawler user, created when missing.
DO $mc$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'metamapper') THEN
        CREATE ROLE "metamapper" LOGIN;
    END IF;
END
$mc$;

-- Replace :'crawler_password' with the crawler's password in single quotes,
-- or let psql do it: psql -v crawler_password='...' -f FILE.
ALTER ROLE "metamapper" PASSWORD :'crawler_password';

-- The group role that holds the privileges, and the user in it.
DO $mc$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'metamapper_readers') THEN
        CREATE ROLE "metamapper_readers" NOLOGIN;
    END IF;
END
$mc$;
GRANT "metamapper_readers" TO "metamapper";

-- Schema "public".
GRANT USAGE ON SCHEMA "public" TO "metamapper_readers";
GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO "metamapper_readers";

-- Schema "sales".
GRANT USAGE ON SCHEMA "sales" TO "metamapper_readers";
GRANT SELECT ON ALL TABLES IN SCHEMA "sales" TO "metamapper_readers";

-- Future tables: default privileges for each owner of tables in scope
-- (a plain ALTER DEFAULT PRIVILEGES covers only the caller's own tables).
-- The owners are not known without a connection (--owner names them);
-- for each user that creates tables in these schemas, run:
-- ALTER DEFAULT PRIVILEGES FOR ROLE "<owner>" IN SCHEMA "public", "sales" GRANT SELECT ON TABLES TO "metamapper_readers";
