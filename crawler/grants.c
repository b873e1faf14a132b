/* crawler/grants.c: being written (see the open issue) */
typedef int mc_unit_grants;
