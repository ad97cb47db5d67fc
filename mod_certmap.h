/*
 * mod_certmap.h - what the files of the httpd module share (not the
 * engine's interface; that is include/certmap.h).
 *
 *   mod_certmap.c          configuration, the access checker, hooks
 *   mod_certmap_forward.c  CertMapForward*, header scrubbing
 *   mod_certmap_rules.c    CertMapRule, CertMapUPNDomain, CertMapPassword
 *   mod_certmap_file.c     CertMapFile: shared compiled index, reloads
 *   mod_certmap_ldap.c     CertMapLDAP*: mappings from a directory
 */
#ifndef MOD_CERTMAP_H
#define MOD_CERTMAP_H

#include "httpd.h"
#include "http_config.h"

#include "certmap.h"
#include "certmap_forward.h"
#include "certmap_index.h"

extern module AP_MODULE_DECLARE_DATA certmap_module;

typedef enum {
    CERTMAP_MODE_UNSET = 0,
    CERTMAP_MODE_OFF,
    CERTMAP_MODE_ON,
    CERTMAP_MODE_OPTIONAL
} certmap_mode_e;

/* A scope's CertMapLDAP* settings (mod_certmap_ldap.c). */
typedef struct certmap_ldap_conf certmap_ldap_conf;

/* One CertMapForward line. */
typedef struct {
    certmap_fwd_format_e format;
    const char *header;       /* as configured or the format's default */
    const char *chain_header; /* rfc9440 only: header "-Chain" */
} certmap_forward_spec;

typedef struct {
    certmap_mode_e mode;
    const char *domain;     /* CertMapDomain; NULL: inherit */
    certmap_table_t *table; /* this section's own entries, or NULL */
    /* const certmap_table_t *: this section's table and every enclosing
     * one, innermost first (merging joins the lists). */
    apr_array_header_t *layers;
    /* Some layer comes from .htaccess (made anew for each request): its
     * decisions are not kept in the connection's cache. */
    int transient;

    /* CertMapForward: certmap_forward_spec, outer scopes first; NULL:
     * inherit.  forward_user: header name, "" for "none", NULL: inherit. */
    apr_array_header_t *forwards;
    const char *forward_user;

    /* mod_certmap_rules.c: CertMapRule entries (outer scope's first),
     * CertMapUPNDomain entries, CertMapPassword (-1: inherit). */
    apr_array_header_t *rules;
    apr_array_header_t *upn_domains;
    int password;
    /* const char *: AuthBasicProvider names (read alongside
     * mod_auth_basic) for CertMapPassword; NULL: inherit, else "file". */
    apr_array_header_t *basic_providers;

    /* mod_certmap_ldap.c: CertMapLDAP* of this scope merged with the
     * enclosing ones; NULL when none is set. */
    certmap_ldap_conf *ldap;
} certmap_dir_conf;

/* Per virtual host. */
typedef struct {
    /* Some mod_certmap directive appears in this virtual host (or in the
     * main server, which every virtual host inherits). */
    int active;
    /* Folded header name -> itself: what post_read_request removes. */
    apr_hash_t *scrub;
} certmap_server_conf;

/* What the access checker decided, for the later hooks. */
typedef struct {
    certmap_reason_e reason;
    const certmap_cert_t *cert; /* NULL when there was none */
    const char *account;        /* qualified; set when mapped */
    int refused; /* the status given (403, 503) when refused and logged */
    /* CertMapPassword answered this status (401 with a challenge, 500);
     * 0: it did not refuse.  Later hooks keep to it (Satisfy Any). */
    int password_status;
} certmap_request_state;

/* The last certificate seen on a connection and what was parsed from it.
 * Keyed on OpenSSL's peer certificate object (a reference is held, so
 * another certificate cannot appear at the same address) or, when
 * mod_ssl did not hand over its SSL, on the whole PEM: a certificate that
 * changes inside the connection (renegotiation, TLS 1.3 post-handshake
 * auth) is parsed again and never served from here. */
typedef struct {
    apr_pool_t *pool;     /* cleared whenever the certificate changes */
    struct ssl_st *ssl;   /* from mod_ssl's pre_handshake hook, or NULL */
    struct x509_st *x509; /* the peer certificate `cert` was parsed from */
    const char *pem;      /* ... or its PEM (no SSL handed over) */
    apr_size_t pem_len;
    certmap_cert_t *cert;
    void *forward; /* mod_certmap_forward.c's values for `cert` */
    void *ldap;    /* mod_certmap_ldap.c's last answer for `cert` */
    /* The tables' decision for `cert`, kept for the next request of the
     * connection with the same tables and the same map files. */
    apr_pool_t *dpool; /* holds what follows; NULL when not made yet */
    apr_array_header_t *decided_layers;
    apr_uint32_t decided_generation;
    certmap_decision_t decision;
} certmap_conn_cache;

/* mod_certmap.c */
/* A mod_ssl variable as mod_ssl has it: the ssl_var_lookup hook that
 * mod_certmap_forward.c uses to hide unverified certificates from other
 * modules lets these lookups through (certmap_in_own_lookup()). */
const char *certmap_ssl_var(request_rec *r, const char *name);
const char *certmap_ssl_conn_var(apr_pool_t *p, server_rec *s, conn_rec *c,
                                 request_rec *r, const char *name);
int certmap_in_own_lookup(void);
/* This connection's cache, or NULL before its first certificate. */
certmap_conn_cache *certmap_connection_cache(conn_rec *c);
const char *certmap_cmd_error(cmd_parms *cmd, const char *err);
const char *certmap_directive_source(cmd_parms *cmd);
certmap_server_conf *certmap_server_config(server_rec *s);
/* Marks cmd->server as a mod_certmap virtual host. */
void certmap_mark_server(cmd_parms *cmd);
/* The scope's own table, made (and marked) on first use. */
certmap_table_t *certmap_own_table(cmd_parms *cmd, certmap_dir_conf *conf);
/* The verified client certificate of this connection (SSL_CLIENT_VERIFY
 * SUCCESS), or NULL. */
const certmap_cert_t *certmap_verified_cert(request_rec *r);

/* mod_certmap_forward.c */
const char *certmap_cmd_forward(cmd_parms *cmd, void *dconf, const char *fmt,
                                const char *header);
const char *certmap_cmd_forward_user(cmd_parms *cmd, void *dconf,
                                     const char *args);
const char *certmap_cmd_scrub(cmd_parms *cmd, void *dconf, const char *args);
void certmap_forward_merge(apr_pool_t *p, certmap_dir_conf *conf,
                           const certmap_dir_conf *base,
                           const certmap_dir_conf *add);
void certmap_forward_register_hooks(apr_pool_t *p);
/* Called from the module's fixups: add the configured headers. */
void certmap_forward_fixups(request_rec *r, const certmap_dir_conf *conf,
                            const certmap_request_state *st);

/* mod_certmap_file.c */
/* Changes whenever this process switches a map file to a new index. */
apr_uint32_t certmap_file_generation(void);
const char *certmap_cmd_file(cmd_parms *cmd, void *dconf, const char *arg);
void certmap_file_register_hooks(apr_pool_t *p);

/* mod_certmap_rules.c */
const char *certmap_cmd_rule(cmd_parms *cmd, void *dconf, const char *args);
const char *certmap_cmd_upn_domain(cmd_parms *cmd, void *dconf,
                                   const char *suffix, const char *domain);
const char *certmap_cmd_password(cmd_parms *cmd, void *dconf, int on);
/* AuthBasicProvider, declared by mod_auth_basic too (both see it). */
const char *certmap_cmd_basic_provider(cmd_parms *cmd, void *dconf,
                                       const char *args);
void certmap_rules_merge(apr_pool_t *p, certmap_dir_conf *conf,
                         const certmap_dir_conf *base,
                         const certmap_dir_conf *add);
/* After the tables left the certificate unmapped (and not denied): the
 * rules in order, then UPN.  Fills `d` (MAPPED or CERT_DENIED, account,
 * source) when one decides; leaves it alone otherwise. */
void certmap_rules_decide(request_rec *r, const certmap_dir_conf *conf,
                          const certmap_cert_t *cert, certmap_decision_t *d);
/* CertMapPassword: called by the access checker once the certificate
 * mapped to st->account.  OK to go on; HTTP_UNAUTHORIZED (challenge
 * set) or HTTP_FORBIDDEN (st->reason set, e.g. CERTMAP_CERT_MISMATCH)
 * otherwise. */
int certmap_password_check(request_rec *r, const certmap_dir_conf *conf,
                           certmap_request_state *st);

/* mod_certmap_ldap.c */
const char *certmap_cmd_ldap_url(cmd_parms *cmd, void *dconf, const char *url,
                                 const char *mode);
const char *certmap_cmd_ldap_match(cmd_parms *cmd, void *dconf,
                                   const char *mode, const char *attr);
const char *certmap_cmd_ldap_bind_dn(cmd_parms *cmd, void *dconf,
                                     const char *dn);
const char *certmap_cmd_ldap_bind_password(cmd_parms *cmd, void *dconf,
                                           const char *arg);
const char *certmap_cmd_ldap_domain(cmd_parms *cmd, void *dconf,
                                    const char *arg);
const char *certmap_cmd_ldap_negative_ttl(cmd_parms *cmd, void *dconf,
                                          const char *arg);
const char *certmap_cmd_ldap_cache(cmd_parms *cmd, void *dconf,
                                   const char *arg);
void certmap_ldap_merge(apr_pool_t *p, certmap_dir_conf *conf,
                        const certmap_dir_conf *base,
                        const certmap_dir_conf *add);
void certmap_ldap_register_hooks(apr_pool_t *p);
/* After the tables and rules left the certificate unmapped (and not
 * denied): ask the directory of the scope, if it has one.  Sets
 * d->reason to MAPPED (account, source = the entry's DN, form),
 * CERT_UNMAPPED, DIRECTORY_AMBIGUOUS or DIRECTORY_UNAVAILABLE; leaves `d`
 * alone when the scope has no directory. */
void certmap_ldap_decide(request_rec *r, const certmap_dir_conf *conf,
                         const certmap_cert_t *cert, certmap_decision_t *d);

#endif /* MOD_CERTMAP_H */
