/* crawler/commands.c: being written */
typedef int mc_unit_commands;
