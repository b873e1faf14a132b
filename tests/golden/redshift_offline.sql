-- metacrawl grants for datastore 'analytics': Amazon Redshift
-- crawler user "metamapper", group "metamapper"
-- schemas in scope: "public", "sales"
--
-- Amazon Redshift has no DO blocks and no IF NOT EXISTS for users and
-- groups.  Run this statement by statement in autocommit mode (psql -f
-- does; not with -1 or ON_ERROR_STOP): CREATE USER, CREATE GROUP and
-- ALTER GROUP ... ADD USER fail harmlessly when that was done before.
-- Every other statement can be run again and again.  `metacrawl grants
-- analytics --apply` reads the catalog first and skips what exists.

-- The crawler user.
-- Replace :'crawler_password' with the crawler's password in single quotes,
-- or let psql do it: psql -v crawler_password='...' -f FILE.
-- Redshift wants 8 to 64 characters with an upper-case letter, a
-- lower-case letter and a digit.
CREATE USER "metamapper" PASSWORD :'crawler_password';

-- The group that holds the privileges, and the user in it.
CREATE GROUP "metamapper";
ALTER GROUP "metamapper" ADD USER "metamapper";

-- Schema "public".
GRANT USAGE ON SCHEMA "public" TO GROUP "metamapper";
GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO GROUP "metamapper";

-- Schema "sales".
GRANT USAGE ON SCHEMA "sales" TO GROUP "metamapper";
GRANT SELECT ON ALL TABLES IN SCHEMA "sales" TO GROUP "metamapper";

-- Future tables: default privileges for each owner of tables in scope
-- (a plain ALTER DEFAULT PRIVILEGES covers only the caller's own tables).
ALTER DEFAULT PRIVILEGES FOR USER "etl" IN SCHEMA "public", "sales" GRANT SELECT ON TABLES TO GROUP "metamapper";
ALTER DEFAULT PRIVILEGES FOR USER "loader" IN SCHEMA "public", "sales" GRANT SELECT ON TABLES TO GROUP "metamapper";
