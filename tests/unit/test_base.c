#include <criterion/criterion.h>
Test(base, builds) { cr_assert(1 + 1 == 2); }
