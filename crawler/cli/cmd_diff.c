/*
 * cmd_diff.c — `metacrawl diff`: the changes between two recorded runs,
 * by comparing the catalogs as they were after each.
 */
#include "commands.h"
#include "diff.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt diff_opts_table[] = {
    {"from", 0, "RUN", "the earlier run (default: the run before --to)",
     CLI_INT_RANGE(1, LONG_MAX)},
    {"to", 0, "RUN", "the later run (default: the latest run)", CLI_INT_RANGE(1, LONG_MAX)},
    {"as-of", 0, "RUN", "A B: A's catalog as it was after this run (default: A's latest)",
     CLI_INT_RANGE(1, LONG_MAX)},
    {"map", 0, "B_SCHEMA=A_SCHEMA[,...]",
     "A B: compare B's schema B_SCHEMA with A's schema A_SCHEMA", CLI_IS_TEXT},
    {"fail-on", 0, "WHAT", "exit 1 when there are 'breaking' changes, or 'any'", CLI_IS_TEXT},
    {"format", 0, "FORMAT", "text (default), json, markdown or junit", CLI_IS_TEXT},
    {"all", 0, NULL, "list every change on the terminal (default: the first 100)", CLI_IS_FLAG},
    {0},
};

/* The completed (ok or partial) runs of a datastore, newest first. */
static int completed_runs(store *st, const char *ds, int64_t **ids, size_t *n)
{
    mc_run_list l = {0};
    mc_error err = {0};
    *ids = NULL;
    *n = 0;
    if (store_list_runs(st, ds, 0, &l, &err) != 0) {
        report_error(&err);
        return err.code;
    }
    *ids = mc_calloc(l.n + 1, sizeof **ids);
    for (size_t i = 0; i < l.n; i++)
        if (l.runs[i].status == MC_RUN_OK || l.runs[i].status == MC_RUN_PARTIAL)
            (*ids)[(*n)++] = l.runs[i].id;
    mc_run_list_free(&l);
    return 0;
}

/* Replaces every "NAME":FROM in a canonical JSON text (docs/store.md: a
 * foreign key's ref_schema, a dependency's schema) with TO, so the text
 * compares equal afterwards. */
static const char *map_json_schema(mc_arena *a, const char *json, const char *name,
                                   const char *from, const char *to)
{
    if (!json)
        return NULL;
    mc_buf key = {0}, rep = {0}, out = {0};
    json_put_str(&key, name);
    mc_buf_putc(&key, ':');
    json_put_str(&key, from);
    json_put_str(&rep, name);
    mc_buf_putc(&rep, ':');
    json_put_str(&rep, to);
    const char *p = json, *hit;
    while ((hit = strstr(p, mc_buf_str(&key))) != NULL) {
        mc_buf_append(&out, p, (size_t)(hit - p));
        mc_buf_puts(&out, mc_buf_str(&rep));
        p = hit + key.len;
    }
    mc_buf_puts(&out, p);
    const char *r = mc_arena_strdup(a, mc_buf_str(&out));
    mc_buf_free(&key);
    mc_buf_free(&rep);
    mc_buf_free(&out);
    return r;
}

/* --map B_SCHEMA=A_SCHEMA[,...]: B's schemas take A's names before the
 * comparison (and in what it reports).  A schema B does not have, or two
 * schemas of B with one name afterwards, is a usage error. */
static int apply_map(mc_catalog *b, const char *map, const char *bname)
{
    char *list = mc_strdup(map), *save = NULL;
    int rc = 0;
    /* every left side is one of B's schemas as recorded, checked before
     * any is renamed (the lookup needs the sorted names, and a=b,b=c means
     * two renames of B's own schemas, not a chain) */
    char *check = mc_strdup(map), *save2 = NULL;
    for (char *pair = strtok_r(check, ",", &save2); pair && !rc;
         pair = strtok_r(NULL, ",", &save2)) {
        char *eq = strchr(pair, '=');
        if (!eq || eq == pair || !eq[1])
            break; /* said below */
        *eq = '\0';
        if (!mc_catalog_find_schema(b, pair))
            rc = cmd_fail(MC_EXIT_USAGE,
                          "the left side of --map names a schema of the second datastore",
                          "--map: datastore '%s' has no schema '%s'", bname, pair);
        /* a name both mapped from and mapped to would make the order of
         * the pairs matter */
        for (const char *q = map; !rc && (q = strstr(q, pair)) != NULL; q++) {
            bool starts = q > map && q[-1] == '=';
            size_t n = strlen(pair);
            if (starts && (q[n] == ',' || q[n] == '\0'))
                rc = cmd_fail(MC_EXIT_USAGE, "map each schema once, to a name no pair maps from",
                              "--map: '%s' is mapped from and mapped to", pair);
        }
    }
    free(check);
    /* the renames, each against the names as recorded */
    const char **orig_s = mc_calloc(b->n_schemas + 1, sizeof *orig_s);
    const char **orig_k = mc_calloc(b->n_containers + 1, sizeof *orig_k);
    for (size_t i = 0; i < b->n_schemas; i++)
        orig_s[i] = b->schemas[i].name;
    for (size_t i = 0; i < b->n_containers; i++)
        orig_k[i] = b->containers[i].schema;
    for (char *pair = strtok_r(list, ",", &save); pair && !rc;
         pair = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(pair, '=');
        if (!eq || eq == pair || !eq[1]) {
            rc = cmd_fail(MC_EXIT_USAGE, "write --map B_SCHEMA=A_SCHEMA, pairs separated by commas",
                          "--map: '%s' is not SCHEMA=SCHEMA", pair);
            break;
        }
        *eq = '\0';
        const char *from = pair, *to = eq + 1;
        const char *to_a = mc_arena_strdup(b->arena, to);
        for (size_t i = 0; i < b->n_schemas; i++)
            if (strcmp(orig_s[i], from) == 0)
                b->schemas[i].name = to_a;
        for (size_t i = 0; i < b->n_containers; i++) {
            mc_container *k = &b->containers[i];
            if (strcmp(orig_k[i], from) == 0)
                k->schema = to_a;
            k->foreign_keys = map_json_schema(b->arena, k->foreign_keys, "ref_schema", from,
                                              to_a);
            k->depends_on = map_json_schema(b->arena, k->depends_on, "schema", from, to_a);
        }
        for (size_t i = 0; i < b->n_left_out; i++)
            if (strcmp(b->left_out[i].schema, from) == 0)
                b->left_out[i].schema = to_a;
    }
    free(list);
    free(orig_s);
    free(orig_k);
    if (rc)
        return rc;
    mc_catalog_finish(b);
    for (size_t i = 1; i < b->n_schemas; i++)
        if (strcmp(b->schemas[i - 1].name, b->schemas[i].name) == 0)
            return cmd_fail(MC_EXIT_USAGE, "map each schema of the second datastore to a name it does not have already",
                            "--map: datastore '%s' would have two schemas named '%s'", bname,
                            b->schemas[i].name);
    return 0;
}

/* The latest completed run of ds, or 0 (reported) when it has none. */
static int latest_run(store *st, const char *ds, int64_t *out)
{
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = completed_runs(st, ds, &ids, &n);
    *out = n ? ids[0] : 0;
    free(ids);
    if (!rc && !*out)
        rc = cmd_fail(MC_EXIT_USAGE, "crawl it first", "datastore '%s' has no completed run", ds);
    return rc;
}

/* Which two catalogs: one datastore's two runs (--from/--to), or two
 * datastores' current catalogs (A --as-of RUN). */
typedef struct diff_sides {
    char *a, *b;         /* datastore names; b == NULL: one datastore */
    int64_t from, to;    /* the runs compared (A's and B's for two) */
} diff_sides;

static int pick_sides(cli_ctx *ctx, store *st, diff_sides *d)
{
    int rc;
    if (ctx->n_args == 2) {
        if (cli_value(ctx, "from") || cli_value(ctx, "to"))
            return cmd_fail(MC_EXIT_USAGE, "with two datastores, --as-of RUN picks A's run",
                            "--from and --to compare two runs of one datastore");
        if ((rc = cmd_pick_datastore(st, ctx->args[0], &d->a)) != 0 ||
            (rc = cmd_pick_datastore(st, ctx->args[1], &d->b)) != 0)
            return rc;
        d->from = cli_int(ctx, "as-of", 0);
        if (!d->from && (rc = latest_run(st, d->a, &d->from)) != 0)
            return rc;
        return latest_run(st, d->b, &d->to);
    }
    if (cli_value(ctx, "as-of") || cli_value(ctx, "map"))
        return cmd_fail(MC_EXIT_USAGE, "name two datastores (diff A B), or use --from and --to",
                        "--%s compares two datastores", cli_value(ctx, "as-of") ? "as-of" : "map");
    int64_t *ids = NULL;
    size_t n_ids = 0;
    if ((rc = cmd_pick_datastore(st, ctx->n_args ? ctx->args[0] : NULL, &d->a)) != 0 ||
        (rc = completed_runs(st, d->a, &ids, &n_ids)) != 0)
        return rc;
    d->to = cli_int(ctx, "to", 0);
    d->from = cli_int(ctx, "from", 0);
    if (!d->to)
        d->to = n_ids ? ids[0] : 0;
    if (!d->from) {
        for (size_t i = 0; i < n_ids; i++)
            if (ids[i] < d->to) {
                d->from = ids[i];
                break;
            }
    }
    free(ids);
    if (!d->to || !d->from)
        return cmd_fail(MC_EXIT_USAGE, "crawl it again to have something to compare",
                        "datastore '%s' needs two completed runs to diff; it has %zu", d->a,
                        n_ids);
    return 0;
}

static int oid_cmp(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* The containers' database ids, sorted (the caller frees them). */
static int64_t *sorted_oids(const mc_catalog *c)
{
    int64_t *o = mc_malloc((c->n_containers + 1) * sizeof *o);
    for (size_t i = 0; i < c->n_containers; i++)
        o[i] = c->containers[i].oid;
    qsort(o, c->n_containers, sizeof *o, oid_cmp);
    return o;
}

/* Unknown (0), or held by one container. */
static bool oid_once(const int64_t *sorted, size_t n, int64_t oid)
{
    if (oid == 0)
        return true;
    const int64_t *hit = bsearch(&oid, sorted, n, sizeof *sorted, oid_cmp);
    return hit && !(hit > sorted && hit[-1] == oid) && !(hit + 1 < sorted + n && hit[1] == oid);
}

/*
 * The two catalogs, in memory that grows with their containers, not their
 * columns: both are read without fields, with each container's hash
 * computed from its run's versions (one container at a time), and only
 * the containers the comparison will look into get their fields — those
 * without a twin on the other side of the same name, database id (when ids
 * pair, as for one datastore) and hash.  A twin pair is paired by
 * diff_catalogs and skipped as equal, so its fields are never read.
 */
static int load_sides(store *st, const diff_sides *sd, const char *map, mc_catalog **a,
                      mc_catalog **b)
{
    mc_error err = {0};
    const char *bname = sd->b ? sd->b : sd->a;
    bool by_name = sd->b != NULL;
    int rc = 0;
    if (store_load_skeleton(st, sd->a, sd->from, STORE_SKELETON_HASHES, a, &err) != 0 ||
        store_load_skeleton_like(st, bname, sd->to, map ? 0 : STORE_SKELETON_HASHES, *a, b,
                                 &err) != 0)
        goto fail;
    if (map) {
        /* B's containers are hashed under the names they take */
        if ((rc = apply_map(*b, map, sd->b)) != 0)
            return rc;
        if (store_hash_containers(st, *b, sd->to, &err) != 0)
            goto fail;
    }
    mc_catalog *A = *a, *B = *b;
    bool *twin_a = mc_calloc(A->n_containers + 1, sizeof *twin_a);
    bool *twin_b = mc_calloc(B->n_containers + 1, sizeof *twin_b);
    int64_t *oids_a = sorted_oids(A), *oids_b = sorted_oids(B);
    for (size_t i = 0; i < A->n_containers; i++) {
        const mc_container *k = &A->containers[i];
        const mc_container *t = mc_catalog_find(B, k->schema, k->name);
        /* pairing by id comes first: an id both sides hold once pairs the
         * twins with each other */
        if (t && t->hash == k->hash &&
            (by_name || (t->oid == k->oid && oid_once(oids_a, A->n_containers, k->oid) &&
                         oid_once(oids_b, B->n_containers, k->oid)))) {
            twin_a[i] = true;
            twin_b[t - B->containers] = true;
        }
    }
    size_t *need = mc_calloc((A->n_containers > B->n_containers ? A->n_containers
                                                                 : B->n_containers) + 1,
                             sizeof *need);
    size_t n = 0;
    for (size_t i = 0; i < A->n_containers; i++)
        if (!twin_a[i])
            need[n++] = i;
    int bad = store_load_fields_at(st, A, sd->from, need, n, &err);
    n = 0;
    for (size_t i = 0; i < B->n_containers && !bad; i++)
        if (!twin_b[i])
            need[n++] = i;
    if (!bad)
        bad = store_load_fields_at(st, B, sd->to, need, n, &err);
    free(need);
    free(twin_a);
    free(twin_b);
    free(oids_a);
    free(oids_b);
    if (!bad)
        return 0;
fail:
    report_error(&err);
    return err.code;
}

static int cmd_diff(cli_ctx *ctx)
{
    cfg *c = NULL;
    store *st = NULL;
    diff_sides sd = {0};
    mc_catalog *a = NULL, *b = NULL;
    diff_result dr = {0};
    mc_error err = {0};
    cmd_format format;
    cmd_fail_on fail_on;
    int rc = cmd_pipeline_opts(ctx, &format, &fail_on);
    if (rc || (rc = cmd_load_config_for_reading(ctx, &c)) != 0 ||
        (rc = cmd_open_store_read(ctx, c, &st)) != 0 || (rc = pick_sides(ctx, st, &sd)) != 0)
        goto out;
    if (cli_flag(ctx, "all"))
        report_change_cap = 0, report_impact_cap = 0;
    if ((rc = load_sides(st, &sd, sd.b ? cli_value(ctx, "map") : NULL, &a, &b)) != 0)
        goto out;
    diff_opts o = {.allow_removals = true, .max_removed_pct = 100, .accept_removals = true,
                   .by_name_only = sd.b != NULL};
    if (diff_catalogs(NULL, a, b, &o, &dr, &err) != 0) {
        report_error(&err);
        rc = err.code;
        goto out;
    }
    diff_drop_silent(&dr);
    /* "prod -> staging" or "prod: run 3 -> run 5" */
    char *title = sd.b ? mc_asprintf("%s -> %s", sd.a, sd.b)
                       : mc_asprintf("%s: run %lld -> run %lld", sd.a, (long long)sd.from,
                                     (long long)sd.to);
    if (format == CMD_FORMAT_JSON) {
        mc_buf j = {0};
        bool first = true;
        mc_buf_putc(&j, '{');
        json_put_kv_str(&j, &first, "datastore", sd.a);
        if (sd.b)
            json_put_kv_str(&j, &first, "other", sd.b);
        json_put_kv_int(&j, &first, "from", sd.from);
        json_put_kv_int(&j, &first, "to", sd.to);
        first = json_put_key(&j, first, "changes");
        report_json_changes(&j, &dr.changes, sd.a, NULL, 0);
        mc_buf_putc(&j, '}');
        cmd_print_json(&j);
        mc_buf_free(&j);
    } else if (format == CMD_FORMAT_TEXT) {
        fputs(title, stdout);
        if (sd.b)
            printf(" (run %lld -> run %lld)", (long long)sd.from, (long long)sd.to);
        printf(": %zu %s (%zu breaking)\n", dr.changes.n,
               report_plural((int64_t)dr.changes.n, "change", "changes"),
               report_count_breaking(&dr.changes));
        report_print_changes(stdout, &dr.changes);
    } else {
        report_section sec = {.datastore = sd.b ? sd.b : sd.a, .label = title, .status = "ok",
                              .changes = &dr.changes};
        cmd_print_pipeline(format, "metacrawl diff", &sec, 1);
    }
    free(title);
    if (cmd_fails_on(fail_on, dr.changes.n, report_count_breaking(&dr.changes)))
        rc = MC_EXIT_CHANGES;
out:
    diff_result_free(&dr);
    mc_catalog_free(b); /* shares a's texts */
    mc_catalog_free(a);
    free(sd.a);
    free(sd.b);
    store_close(st);
    cfg_free(c);
    return rc;
}

const cli_cmd cmd_def_diff = {"diff", "[DS] | A B", "changes between two runs, or two datastores",
     "Shows the changes between the catalogs recorded by two runs of a "
     "datastore (default: the last two completed runs). DS may be left out "
     "when the store holds one datastore.\n\nWith two datastores A and B "
     "(say prod and staging), compares their current catalogs (A's as of "
     "--as-of RUN) as if A had become B: the same change kinds and breaking "
     "flags as a crawl. Database ids of one datastore say nothing about the "
     "other, so objects pair by name (schemas mapped with --map); a "
     "container or column left over on each side is a rename only when its "
     "shape matches, and says so (docs/ci.md).\n\n--fail-on breaking|any "
     "exits 1 when such changes are found; --format markdown writes a "
     "pull-request comment, --format junit a test report (docs/ci.md).",
     diff_opts_table, 0, 2, cmd_diff};
