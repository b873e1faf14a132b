/* store/store.c: being written */
typedef int mc_unit_store;
