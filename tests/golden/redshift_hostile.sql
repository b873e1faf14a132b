-- metacrawl grants for datastore 'dw': Amazon Redshift
-- crawler user "Meta Mapper", group "Readers;"
-- schemas in scope: "Sales Data", "we""ird", "semi;colon",
--   "ünïcødé", "x""; DROP TABLE t; --"
--
-- Amazon Redshift has no DO blocks and no IF NOT EXISTS for users and
-- groups.  Run this statement by statement in autocommit mode (psql -f
-- does; not with -1 or ON_ERROR_STOP): CREATE USER, CREATE GROUP and
-- ALTER GROUP ... ADD USER fail harmlessly when that was done before.
-- Every other statement can be run again and again.  `metacrawl grants
-- dw --apply` reads the catalog first and skips what exists.

-- Names with upper-case letters: keep their case (Redshift folds
-- quoted names to lower case unless this is on).
SET enable_case_sensitive_identifier TO true;

-- The crawler user.
-- Replace :'crawler_password' with the crawler's password in single quotes,
-- or let psql do it: psql -v crawler_password='...' -f FILE.
-- Redshift wants 8 to 64 characters with an upper-case letter, a
-- lower-case letter and a digit.
CREATE USER "Meta Mapper" PASSWORD :'crawler_password';

-- The group that holds the privileges, and the user in it.
CREATE GROUP "Readers;";
ALTER GROUP "Readers;" ADD USER "Meta Mapper";

-- Schema "Sales Data".
GRANT USAGE ON SCHEMA "Sales Data" TO GROUP "Readers;";
GRANT SELECT ON ALL TABLES IN SCHEMA "Sales Data" TO GROUP "Readers;";

-- Schema "we""ird".
GRANT USAGE ON SCHEMA "we""ird" TO GROUP "Readers;";
GRANT SELECT ON ALL TABLES IN SCHEMA "we""ird" TO GROUP "Readers;";

-- Schema "semi;colon".
GRANT USAGE ON SCHEMA "semi;colon" TO GROUP "Readers;";
GRANT SELECT ON ALL TABLES IN SCHEMA "semi;colon" TO GROUP "Readers;";

-- Schema "ünïcødé".
GRANT USAGE ON SCHEMA "ünïcødé" TO GROUP "Readers;";
GRANT SELECT ON ALL TABLES IN SCHEMA "ünïcødé" TO GROUP "Readers;";

-- Schema "x""; DROP TABLE t; --".
GRANT USAGE ON SCHEMA "x""; DROP TABLE t; --" TO GROUP "Readers;";
GRANT SELECT ON ALL TABLES IN SCHEMA "x""; DROP TABLE t; --" TO GROUP "Readers;";

-- Future tables: default privileges for each owner of tables in scope
-- (a plain ALTER DEFAULT PRIVILEGES covers only the caller's own tables).
ALTER DEFAULT PRIVILEGES FOR USER "ETL User" IN SCHEMA "Sales Data", "we""ird", "semi;colon", "ünïcødé", "x""; DROP TABLE t; --" GRANT SELECT ON TABLES TO GROUP "Readers;";
ALTER DEFAULT PRIVILEGES FOR USER "o'brien" IN SCHEMA "Sales Data", "we""ird", "semi;colon", "ünïcødé", "x""; DROP TABLE t; --" GRANT SELECT ON TABLES TO GROUP "Readers;";
