/* crawler/config.c: being written */
typedef int mc_unit_config;
