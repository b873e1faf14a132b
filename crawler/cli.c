/* crawler/cli.c: being written */
typedef int mc_unit_cli;
