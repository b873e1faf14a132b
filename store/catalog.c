/*
 * catalog.c — the in-memory catalog model (store.h): arrays of schemas,
 * containers and fields with arena-owned strings, the container
 * fingerprint, and the names of kinds and change kinds.
 */
#include "store.h"

#include <string.h>

static const char *const kind_names[MC_KIND__COUNT] = {
    "table", "view", "materialized_view", "partitioned_table",
    "foreign_table", "external_table", "late_binding_view",
};

const char *mc_kind_name(mc_kind k)
{
    return (unsigned)k < MC_KIND__COUNT ? kind_names[k] : "unknown";
}

int mc_kind_parse(const char *s)
{
    for (int i = 0; s && i < MC_KIND__COUNT; i++)
        if (strcmp(s, kind_names[i]) == 0)
            return i;
    return -1;
}

static const char *const change_names[MC_CHANGE__COUNT] = {
    "schema_added", "schema_removed", "schema_changed",
    "container_added", "container_removed", "container_renamed",
    "container_changed", "field_added", "field_removed", "field_renamed",
    "field_changed",
};

const char *mc_change_kind_name(mc_change_kind k)
{
    return (unsigned)k < MC_CHANGE__COUNT ? change_names[k] : "unknown";
}

int mc_change_kind_parse(const char *s)
{
    for (int i = 0; s && i < MC_CHANGE__COUNT; i++)
        if (strcmp(s, change_names[i]) == 0)
            return i;
    return -1;
}
