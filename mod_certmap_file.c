/*
 * mod_certmap_file.c - CertMapFile: map files.
 */
#include "httpd.h"
#include "http_config.h"
#include "apr_strings.h"

#include "mod_certmap.h"

const char *certmap_cmd_file(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const char *err;

    if (path == NULL) {
        return certmap_cmd_error(cmd,
                                 apr_psprintf(cmd->pool, "invalid path '%s'",
                                              arg));
    }
    err = certmap_table_load_file(certmap_own_table(cmd, dconf), path);
    return err ? certmap_cmd_error(cmd, err) : NULL;
}

void certmap_file_register_hooks(apr_pool_t *p)
{
    (void)p;
}
