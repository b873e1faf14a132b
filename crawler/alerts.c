/* crawler/alerts.c: being written (see the open issue) */
typedef int mc_unit_alerts;
