/* crawler/diff.c: being written */
typedef int mc_unit_diff;
