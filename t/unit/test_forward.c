/*
 * test_forward.c - the CertMapForward encoders (placeholder).
 */
#include "tests.h"

Suite *make_forward_suite(void)
{
    return suite_create("forward");
}
