/*
 * store_internal.h — for the files in store/ (and the store's unit tests)
 * only: the SQLite handle behind a store, so read-only query modules
 * (history.c) can live in files of their own.  Nothing else outside store/
 * includes this.
 */
#ifndef MC_STORE_INTERNAL_H
#define MC_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

sqlite3 *store_sqlite(store *s);
/* The path the store was opened with. */
const char *store_file_path(const store *s);
/* The datastore's id, or 0 when the store has never seen it. */
int store_datastore_id(store *s, const char *datastore, int64_t *id_out,
                       mc_error *err);

/* store_open, migrating only up to schema version target (1 .. the latest):
 * how the unit tests make a store as an older metacrawl wrote it, to check
 * that opening it upgrades it with its data intact. */
int store_open_at_version(const char *path, int target, store **out,
                          mc_error *err);

#endif
