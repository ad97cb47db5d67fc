/*
 * certmap_ldap.c - LDAP search filters for a certificate.
 */
#include "certmap_ldap.h"
