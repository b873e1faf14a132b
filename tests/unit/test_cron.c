#include <criterion/criterion.h>
Test(cron, builds) { cr_assert(1 + 1 == 2); }
