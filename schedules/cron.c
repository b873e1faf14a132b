/* schedules/cron.c: being written */
typedef int mc_unit_cron;
