/*
 * mod_certmap_rules.c - CertMapRule, CertMapUPNDomain, CertMapPassword.
 * (Placeholder: being written.)
 */
#include "mod_certmap.h"

const char *certmap_cmd_rule(cmd_parms *cmd, void *dconf, const char *args)
{
    (void)dconf;
    (void)args;
    return certmap_cmd_error(cmd, "is not implemented yet");
}

const char *certmap_cmd_upn_domain(cmd_parms *cmd, void *dconf,
                                   const char *suffix, const char *domain)
{
    (void)dconf;
    (void)suffix;
    (void)domain;
    return certmap_cmd_error(cmd, "is not implemented yet");
}

const char *certmap_cmd_password(cmd_parms *cmd, void *dconf, int on)
{
    (void)dconf;
    (void)on;
    return certmap_cmd_error(cmd, "is not implemented yet");
}

void certmap_rules_merge(apr_pool_t *p, certmap_dir_conf *conf,
                         const certmap_dir_conf *base,
                         const certmap_dir_conf *add)
{
    (void)p;
    conf->rules = NULL;
    conf->upn_domains = NULL;
    conf->password = add->password != -1 ? add->password : base->password;
}

void certmap_rules_decide(request_rec *r, const certmap_dir_conf *conf,
                          const certmap_cert_t *cert, certmap_decision_t *d)
{
    (void)r;
    (void)conf;
    (void)cert;
    (void)d;
}

int certmap_password_check(request_rec *r, const certmap_dir_conf *conf,
                           certmap_request_state *st)
{
    (void)r;
    (void)conf;
    (void)st;
    return OK;
}
