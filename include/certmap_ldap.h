/*
 * certmap_ldap.h - building LDAP search filters for a certificate
 * (CertMapLDAPMatch), with every value escaped per RFC 4515.
 */
#ifndef CERTMAP_LDAP_H
#define CERTMAP_LDAP_H

#include "certmap.h"

#endif /* CERTMAP_LDAP_H */
