-- metacrawl grants for datastore 'analytics': Amazon Redshift
-- crawler user "metamapper", group "metamapper"
-- schemas in scope: "public", "spectrum"
--
-- Amazon Redshift has no IF NOT EXISTS for users and groups: what the
-- catalog already has is commented out below.  Every other statement
-- can be run again and again.

-- The crawler user exists (skipped).
-- CREATE USER "metamapper" PASSWORD [redacted];

-- The password comes from env:METAMAPPER_PASSWORD;
-- --apply sends it hashed, it is never printed.
ALTER USER "metamapper" PASSWORD [redacted];

-- The group exists (skipped).
-- CREATE GROUP "metamapper";
ALTER GROUP "metamapper" ADD USER "metamapper";

-- Schema "public".
GRANT USAGE ON SCHEMA "public" TO GROUP "metamapper";
GRANT SELECT ON ALL TABLES IN SCHEMA "public" TO GROUP "metamapper";

-- Schema "spectrum" (external: Spectrum, data catalog): USAGE is all it takes;
-- its tables are not granted one by one (the IAM role reads them).
GRANT USAGE ON SCHEMA "spectrum" TO GROUP "metamapper";

-- Future tables: default privileges for each owner of tables in scope
-- (a plain ALTER DEFAULT PRIVILEGES covers only the caller's own tables).
ALTER DEFAULT PRIVILEGES FOR USER "etl" IN SCHEMA "public" GRANT SELECT ON TABLES TO GROUP "metamapper";
