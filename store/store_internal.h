/*
 * store_internal.h — for the files in store/ only: the SQLite handle behind a store,
 * so read-only query modules (history.c) can live in files of their own.
 * Nothing outside store/ includes this.
 */
#ifndef MC_STORE_INTERNAL_H
#define MC_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

sqlite3 *store_sqlite(store *s);
/* The datastore's id, or 0 when the store has never seen it. */
int store_datastore_id(store *s, const char *datastore, int64_t *id_out,
                       mc_error *err);

#endif
