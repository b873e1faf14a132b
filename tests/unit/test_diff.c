#include <criterion/criterion.h>
Test(diff, builds) { cr_assert(1 + 1 == 2); }
