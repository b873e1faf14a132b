#include <criterion/criterion.h>
Test(store, builds) { cr_assert(1 + 1 == 2); }
