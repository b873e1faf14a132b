/* crawler/discover.c: being written */
typedef int mc_unit_discover;
