/*
 * certmap_iis.h - translate the IIS client certificate mappings of an
 * applicationHost.config (or web.config) into CertMap* configuration.
 */
#ifndef CERTMAP_IIS_H
#define CERTMAP_IIS_H

#include <apr_pools.h>
#include <apr_tables.h>

/* Read the IIS configuration file `path` and translate every
 * system.webServer/security/authentication/
 * iisClientCertificateMappingAuthentication section in it: the global one
 * and those of <location> elements (only the locations of IIS site `site`
 * when it is not NULL, each wrapped in a <Location> block).
 *
 * On success returns NULL, sets *lines to the output (const char *, one
 * line each, no newline) and *warnings to sentences for stderr.  On
 * failure (unreadable file, XML that is not well-formed, no mapping
 * section) returns an error sentence that names the file, and nothing is
 * to be printed. */
const char *certmap_iis_import(apr_pool_t *p, const char *path,
                               const char *site, apr_array_header_t **lines,
                               apr_array_header_t **warnings);

#endif /* CERTMAP_IIS_H */
