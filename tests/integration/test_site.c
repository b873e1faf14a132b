#include <criterion/criterion.h>
Test(site, being_written) { cr_skip_test("being written"); }
