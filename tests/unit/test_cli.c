#include <criterion/criterion.h>
Test(cli, builds) { cr_assert(1 + 1 == 2); }
