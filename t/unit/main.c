/*
 * main.c - runs every unit-test suite of the mapping engine.
 *
 * APR is initialised once here; each test gets its own pool from the
 * checked fixture in fixtures.c.  The exit status is nonzero when any
 * check fails, which is what `make check` looks at.
 */
#include <stdlib.h>
#include <time.h>

#include <apr_general.h>

#include "tests.h"

int main(void)
{
    SRunner *runner;
    int failed;

    /* A zone far from UTC, so that a certificate date converted as local
     * time instead of UTC shows up on any machine. */
    setenv("TZ", "CMT-5:30", 1);
    tzset();
    if (apr_initialize() != APR_SUCCESS) {
        return EXIT_FAILURE;
    }
    atexit(apr_terminate);
    fx_tmp_root_create();

    runner = srunner_create(make_key_suite());
    srunner_add_suite(runner, make_cert_suite());
    srunner_add_suite(runner, make_account_suite());
    srunner_add_suite(runner, make_table_suite());
    srunner_add_suite(runner, make_verify_suite());
    srunner_add_suite(runner, make_forward_suite());
    srunner_add_suite(runner, make_index_suite());
    srunner_add_suite(runner, make_ldap_suite());

    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);

    fx_tmp_root_remove();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
