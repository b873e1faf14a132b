#include <criterion/criterion.h>
Test(config, builds) { cr_assert(1 + 1 == 2); }
