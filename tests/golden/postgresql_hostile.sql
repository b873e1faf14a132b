-- metacrawl grants for datastore 'pg': PostgreSQL
-- crawler user "crawler$mc$'x", group role "Readers"
-- schemas in scope: "UPPER", U&"new\000aline", "back\slash", "q""uote"
--
-- Safe to run again: the roles are created only when missing, and GRANT
-- and ALTER DEFAULT PRIVILEGES leave grants that exist as they are.

-- The crawler user, created when missing.
DO $mc1$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'crawler$mc$''x') THEN
        CREATE ROLE "crawler$mc$'x" LOGIN;
    END IF;
END
$mc1$;

-- Replace :'crawler_password' with the crawler's password in single quotes,
-- or let psql do it: psql -v crawler_password='...' -f FILE.
ALTER ROLE "crawler$mc$'x" PASSWORD :'crawler_password';

-- The group role that holds the privileges, and the user in it.
DO $mc$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'Readers') THEN
        CREATE ROLE "Readers" NOLOGIN;
    END IF;
END
$mc$;
GRANT "Readers" TO "crawler$mc$'x";

-- Schema "UPPER".
GRANT USAGE ON SCHEMA "UPPER" TO "Readers";
GRANT SELECT ON ALL TABLES IN SCHEMA "UPPER" TO "Readers";

-- Schema U&"new\000aline".
GRANT USAGE ON SCHEMA U&"new\000aline" TO "Readers";
GRANT SELECT ON ALL TABLES IN SCHEMA U&"new\000aline" TO "Readers";

-- Schema "back\slash".
GRANT USAGE ON SCHEMA "back\slash" TO "Readers";
GRANT SELECT ON ALL TABLES IN SCHEMA "back\slash" TO "Readers";

-- Schema "q""uote".
GRANT USAGE ON SCHEMA "q""uote" TO "Readers";
GRANT SELECT ON ALL TABLES IN SCHEMA "q""uote" TO "Readers";

-- Future tables: default privileges for each owner of tables in scope
-- (a plain ALTER DEFAULT PRIVILEGES covers only the caller's own tables).
ALTER DEFAULT PRIVILEGES FOR ROLE "o'brien" IN SCHEMA "UPPER", U&"new\000aline", "back\slash", "q""uote" GRANT SELECT ON TABLES TO "Readers";
