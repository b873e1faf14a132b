/* crawler/crawl.c: being written */
typedef int mc_unit_crawl;
