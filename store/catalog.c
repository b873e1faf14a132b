/* store/catalog.c: being written */
typedef int mc_unit_catalog;
