/*
 * test_ldap.c - LDAP filter building and RFC 4515 escaping.
 */
#include "tests.h"

Suite *make_ldap_suite(void)
{
    Suite *s = suite_create("ldap");

    return s;
}
