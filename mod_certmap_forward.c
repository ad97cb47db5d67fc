/*
 * mod_certmap_forward.c - CertMapForward, CertMapForwardUser, scrubbing.
 * (Placeholder: being written.)
 */
#include "mod_certmap.h"

const char *certmap_cmd_forward(cmd_parms *cmd, void *dconf, const char *fmt,
                                const char *header)
{
    (void)dconf;
    (void)fmt;
    (void)header;
    return certmap_cmd_error(cmd, "is not implemented yet");
}

const char *certmap_cmd_forward_user(cmd_parms *cmd, void *dconf,
                                     const char *args)
{
    (void)dconf;
    (void)args;
    return certmap_cmd_error(cmd, "is not implemented yet");
}

const char *certmap_cmd_scrub(cmd_parms *cmd, void *dconf, const char *name)
{
    (void)dconf;
    (void)name;
    return certmap_cmd_error(cmd, "is not implemented yet");
}

void certmap_forward_merge(apr_pool_t *p, certmap_dir_conf *conf,
                           const certmap_dir_conf *base,
                           const certmap_dir_conf *add)
{
    (void)p;
    conf->forwards = add->forwards ? add->forwards : base->forwards;
    conf->forward_user =
        add->forward_user ? add->forward_user : base->forward_user;
}

void certmap_forward_register_hooks(apr_pool_t *p)
{
    (void)p;
}

void certmap_forward_fixups(request_rec *r, const certmap_dir_conf *conf,
                            const certmap_request_state *st)
{
    (void)r;
    (void)conf;
    (void)st;
}
