/* crawler/json.c: being written */
typedef int mc_unit_json;
