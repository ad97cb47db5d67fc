/* test_index.c - compiled map files (placeholder). */
#include "tests.h"

Suite *make_index_suite(void)
{
    return suite_create("index");
}
