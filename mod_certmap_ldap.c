/*
 * mod_certmap_ldap.c - mappings from a directory (CertMapLDAP*), through
 * mod_ldap.
 */
#include "mod_certmap.h"
