/*
 * datashares.c — the producer side of Redshift datashares in `check`: which
 * objects of the checked database its OUTBOUND datashares share, and in
 * which datashare (docs/redshift.md, "Several databases and datashares").
 *
 * One statement, on Redshift only, after the catalog step: SVV_DATASHARES
 * gives the datashares whose source_database is this database, and
 * SVV_DATASHARE_OBJECTS their objects.  Both are SVV views (compute node):
 * the database's name goes in as a literal, not current_database(), a
 * leader-node function that cannot be mixed with them.  A user who may not
 * see the views (or a cluster without them) gets no item: the step is
 * information, never a failure.  A database sharing nothing adds no item,
 * so a PostgreSQL checklist and a Redshift one without datashares keep their
 * shape.
 */
#include "grants_internal.h"

#include <stdlib.h>
#include <string.h>

#define LIST_MAX 10 /* objects named per datashare; the rest counted */

int check_step_datashares(check_ctx *x)
{
    if (!x->sess || x->dialect != GRANTS_REDSHIFT)
        return 0;
    pg_session *pg = disc_pg(x->sess);
    char *lit = pg_escape_literal(pg, x->ds->database);
    if (!lit)
        return 0;
    char *sql = mc_asprintf(
        "SELECT o.share_name, o.object_type, o.object_name FROM svv_datashare_objects o "
        "WHERE o.share_type = 'OUTBOUND' AND o.share_name IN (SELECT s.share_name "
        "FROM svv_datashares s WHERE s.share_type = 'OUTBOUND' AND s.source_database = %s) "
        "ORDER BY o.share_name, o.object_name", lit);
    free(lit);
    pg_result *r = pg_query(pg, "datashare objects query", sql, NULL);
    free(sql);
    x->r->n_queries++;
    if (!r) {
        mc_log(MC_LOG_DEBUG, "datashare objects query failed (no item): %s",
               pg_last_failure(pg)->message);
        return 0;
    }
    int n = pg_result_rows(r);
    for (int i = 0; i < n;) {
        const char *share = pg_result_text(r, i, 0);
        int j = i;
        mc_buf names = {0};
        while (j < n && strcmp(pg_result_text(r, j, 0), share) == 0) {
            if (j - i < LIST_MAX)
                mc_buf_printf(&names, "%s%s %s", j > i ? ", " : "", pg_result_text(r, j, 1),
                              pg_result_text(r, j, 2));
            j++;
        }
        char *msg = mc_asprintf("datashare %s shares %d object%s: %s%s", share, j - i,
                                j - i == 1 ? "" : "s", mc_buf_str(&names),
                                j - i > LIST_MAX ? ", ..." : "");
        check_add_item(x, "datashare", NULL, CHECK_OK, 0, msg, NULL);
        mc_buf_free(&names);
        i = j;
    }
    pg_result_free(r);
    return 0;
}
