/*
 * mod_certmap_file.c - CertMapFile: map files compiled into a shared,
 * memory-mapped index, reloaded without a restart.
 *
 * Memory.  A map file is compiled (engine, certmap_index.h) into an index
 * file in httpd's runtime directory, certmap-<hash of the path>.idx, and
 * every process maps that file read-only: the pages are the page cache's,
 * one copy for the parent and all children.  The index records the id
 * (device, inode, size, mtime) of the map file it was compiled from; at
 * startup (httpd reads its configuration twice) and at a graceful restart
 * an index whose id matches the map file is reused, so only a changed map
 * file is compiled.  A process-wide registry, kept in the process pool
 * (which outlives configuration re-reads), holds the open indexes.
 *
 * Reload.  Every CertMapFile gives its scope's table a slot
 * (certmap_index_slot_t) the table reads once per lookup.  One process
 * at a time looks at each map file's id every CERTMAP_POLL: a child,
 * through a singleton child watchdog of mod_watchdog (built into httpd;
 * mod_watchdog refuses parent threads under a forking MPM), or, without
 * mod_watchdog, the parent's monitor hook (every ten seconds).  On a
 * change it compiles the file to a new index file,
 * <runtime dir>/certmap/certmap-<hash>-<N>.idx (a directory the
 * children's User owns), and publishes the path and the source id in a
 * small anonymous shared memory area the parent created before the
 * children forked (a sequence number per map file, odd while a writer
 * holds it).  Each child, at the start of each request, compares the
 * sequence number with the one it last applied (one load: cheap) and,
 * when it changed, maps the new index and swaps its slots.  A map file
 * that does not compile is logged (CERTMAP0030, with the map file's
 * "PATH:LINE: ...") once and the previous table keeps serving.  At a
 * graceful restart the parent takes the published index when its source
 * id matches the map file, so nothing is compiled again.
 *
 * Retiring.  A swapped-out index stays mapped for a grace period
 * (CERTMAP_RETIRE_GRACE): another thread of the same child may have read
 * the slot just before the swap and still be inside a lookup.  A lookup
 * takes microseconds, so seconds of grace are ample; the retired index is
 * closed at a later swap or request after the grace period.  The parent
 * unlinks superseded index files after the same grace period (a file that
 * is still mapped somewhere stays readable after unlink on Unix).
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_watchdog.h"
#include "mpm_common.h"
#include "unixd.h"

#include "apr_file_info.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certmap_index.h"
#include "mod_certmap.h"

APLOG_USE_MODULE(certmap);

/* How long a swapped-out index stays mapped, and a superseded index file
 * stays on disk, after the swap. */
#define CERTMAP_RETIRE_GRACE apr_time_from_sec(10)
/* A map file modified less than this long ago may still be being
 * written in place; wait for the next monitor run. */
#define CERTMAP_SETTLE apr_time_from_msec(100)
/* How often the parent looks at the map files (mod_watchdog's thread);
 * without mod_watchdog, the monitor hook: every ten seconds. */
#define CERTMAP_POLL apr_time_from_msec(250)
/* Shared memory: how many map files can be reloaded, longest path. */
#define CERTMAP_SHM_FILES 64
#define CERTMAP_SHM_PATH 1024

#define REGISTRY_KEY "certmap_file_registry"

/* One map file's publication.  `seq` is odd while a writer holds the
 * entry (taken by compare-and-swap from even to odd; the parent at
 * configuration time, the polling process afterwards); every completed
 * write adds 2. */
typedef struct {
    volatile apr_uint32_t seq;
    certmap_file_id_t source; /* of the index at `path` */
    certmap_file_id_t failed; /* the version that did not compile */
    int have_failed;
    apr_uint64_t file_gen; /* for new index file names */
    char path[CERTMAP_SHM_PATH];
} shm_file;

typedef struct {
    shm_file files[CERTMAP_SHM_FILES];
} shm_area;

/* A CertMapFile directive's slot, linked into its map file's list while
 * the configuration that holds it lives. */
typedef struct slot_node {
    certmap_index_slot_t slot;
    struct slot_node *next, *prev;
    struct mapfile *file;
} slot_node;

/* An index no longer current, kept mapped until `when` + grace. */
typedef struct retired {
    struct retired *next;
    certmap_index_t *idx;
    apr_time_t when;
} retired;

/* A superseded index file the parent removes after the grace period. */
typedef struct stale_file {
    struct stale_file *next;
    char *path; /* malloc'd */
    apr_time_t when;
} stale_file;

/* One map file known to this process. */
typedef struct mapfile {
    struct mapfile *next;
    const char *map_path;   /* absolute, in the process pool */
    const char *index_base; /* index dir + "certmap-<hash>" */
    certmap_index_t *current;
    char current_path[CERTMAP_SHM_PATH]; /* "" when held in memory only */
    slot_node *slots;
    int shm;                 /* index in the shared area, -1: none */
    apr_uint32_t seen_seq;   /* the publication this process applied */
    apr_uint32_t failed_seq; /* a publication this process cannot open */
    int htaccess_only;       /* known from .htaccess only: no shared slot */
} mapfile;

typedef struct {
    apr_pool_t *pool; /* the process pool */
    apr_thread_mutex_t *mutex;
    mapfile *files;
    shm_area *shm;
    int shm_used;
    retired *retired;
    volatile apr_time_t oldest_retired; /* 0: none */
    stale_file *stale;
    /* set in a child: swaps happen at requests, not in the monitor */
    int is_child;
    /* a child watchdog polls (else the parent's monitor hook) */
    int watchdog;
    int told_no_watchdog;
    server_rec *server;
} registry;

static registry *the_registry;

/* ------------------------------------------------------------------ */
/* Registry                                                           */

static registry *registry_get(apr_pool_t *process_pool)
{
    void *data = NULL;
    registry *reg;

    if (the_registry != NULL) {
        return the_registry;
    }
    apr_pool_userdata_get(&data, REGISTRY_KEY, process_pool);
    if (data != NULL) {
        the_registry = data;
        return the_registry;
    }
    reg = apr_pcalloc(process_pool, sizeof(*reg));
    reg->pool = process_pool;
    apr_thread_mutex_create(&reg->mutex, APR_THREAD_MUTEX_DEFAULT,
                            process_pool);
    apr_pool_userdata_set(reg, REGISTRY_KEY, apr_pool_cleanup_null,
                          process_pool);
    the_registry = reg;
    return reg;
}

static mapfile *registry_find(registry *reg, const char *map_path)
{
    mapfile *f;

    for (f = reg->files; f != NULL; f = f->next) {
        if (strcmp(f->map_path, map_path) == 0) {
            return f;
        }
    }
    return NULL;
}

/* FNV-1a, 64 bits: names the index files of one map file. */
static const char *path_hash(apr_pool_t *p, const char *path)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);

    for (; *path != '\0'; path++) {
        h ^= (unsigned char)*path;
        h *= APR_UINT64_C(1099511628211);
    }
    return apr_psprintf(p, "%016" APR_UINT64_T_HEX_FMT, h);
}

/* Where index files are written: a directory of the runtime dir that the
 * children's User owns (post_config), so the polling child can write. */
static const char *index_dir(apr_pool_t *p)
{
    return ap_runtime_dir_relative(p, "certmap");
}

static mapfile *registry_add(registry *reg, const char *map_path)
{
    mapfile *f = apr_pcalloc(reg->pool, sizeof(*f));
    const char *name;

    f->map_path = apr_pstrdup(reg->pool, map_path);
    name = apr_pstrcat(reg->pool, "certmap-", path_hash(reg->pool, map_path),
                       NULL);
    f->index_base =
        apr_pstrcat(reg->pool, index_dir(reg->pool), "/", name, NULL);
    f->shm = -1;
    f->next = reg->files;
    reg->files = f;
    return f;
}

/* Keep `idx` mapped for the grace period (caller holds the mutex). */
static void retire(registry *reg, certmap_index_t *idx)
{
    retired *r;

    if (idx == NULL) {
        return;
    }
    r = malloc(sizeof(*r));
    if (r == NULL) {
        return; /* leak the mapping rather than unmap it early */
    }
    r->idx = idx;
    r->when = apr_time_now();
    r->next = reg->retired;
    reg->retired = r;
    if (reg->oldest_retired == 0) {
        reg->oldest_retired = r->when;
    }
}

/* Close retired indexes whose grace period is over (mutex held). */
static void reap_retired(registry *reg, apr_time_t now)
{
    retired **rp = &reg->retired, *r;
    apr_time_t oldest = 0;

    while ((r = *rp) != NULL) {
        if (now - r->when >= CERTMAP_RETIRE_GRACE) {
            *rp = r->next;
            certmap_index_close(r->idx);
            free(r);
        }
        else {
            if (oldest == 0 || r->when < oldest) {
                oldest = r->when;
            }
            rp = &r->next;
        }
    }
    reg->oldest_retired = oldest;
}

/* Parent: remember an index file to unlink after the grace period. */
static void stale_add(registry *reg, const char *path)
{
    stale_file *s;

    if (*path == '\0') {
        return;
    }
    s = malloc(sizeof(*s));
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        return;
    }
    s->when = apr_time_now();
    s->next = reg->stale;
    reg->stale = s;
}

static void reap_stale(registry *reg, apr_time_t now)
{
    stale_file **sp = &reg->stale, *s;

    while ((s = *sp) != NULL) {
        if (now - s->when >= CERTMAP_RETIRE_GRACE) {
            *sp = s->next;
            unlink(s->path);
            free(s->path);
            free(s);
        }
        else {
            sp = &s->next;
        }
    }
}

/* Bumped by install(): decisions cached per connection are kept only
 * while it stays the same. */
static apr_uint32_t generation;

apr_uint32_t certmap_file_generation(void)
{
    return __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

/* Point every slot of `f` in this process at `idx`, which becomes
 * current; the previous one is retired (mutex held). */
static void install(registry *reg, mapfile *f, certmap_index_t *idx,
                    const char *path)
{
    certmap_index_t *old = f->current;
    slot_node *n;

    f->current = idx;
    apr_cpystrn(f->current_path, path ? path : "", sizeof(f->current_path));
    for (n = f->slots; n != NULL; n = n->next) {
        n->slot.current = idx;
    }
    __atomic_add_fetch(&generation, 1, __ATOMIC_RELEASE);
    if (old != NULL && old != idx) {
        retire(reg, old);
    }
}

static apr_status_t slot_unlink(void *data)
{
    slot_node *n = data;
    registry *reg = the_registry;

    if (reg != NULL) {
        apr_thread_mutex_lock(reg->mutex);
    }
    if (n->prev != NULL) {
        n->prev->next = n->next;
    }
    else if (n->file->slots == n) {
        n->file->slots = n->next;
    }
    if (n->next != NULL) {
        n->next->prev = n->prev;
    }
    n->next = n->prev = NULL;
    if (reg != NULL) {
        apr_thread_mutex_unlock(reg->mutex);
    }
    return APR_SUCCESS;
}

/* The index directory and the files the parent (root) wrote there
 * belong to the children's User and Group, as httpd does for the files it
 * shares with its children (mode 0750 / 0640: nobody else reads them). */
static void give_to_children(const char *path)
{
    if (*path != '\0' && geteuid() == 0) {
        if (chown(path, ap_unixd_config.user_id, ap_unixd_config.group_id)
            != 0) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, errno, ap_server_conf,
                         "CERTMAP0033: cannot give %s to the User and Group "
                         "of the children; they may be unable to reload "
                         "map files",
                         path);
        }
    }
}

static int dir_writable(apr_pool_t *p, const char *file)
{
    char *dir = ap_make_dirstr_parent(p, file);

    return access(dir, W_OK) == 0;
}

/* An index for the map file as it is now: the registry's, an index file
 * left by an earlier run, or a freshly compiled one. */
static const char *acquire(cmd_parms *cmd, registry *reg, const char *path,
                           mapfile **out)
{
    certmap_file_id_t id;
    certmap_index_t *idx = NULL;
    const char *err, *index_path;
    mapfile *f;
    int htaccess = (cmd->pool == cmd->temp_pool);

    err = certmap_file_id(cmd->temp_pool, path, &id);
    if (err != NULL) {
        return err;
    }
    f = registry_find(reg, path);
    if (f != NULL && f->current != NULL
        && (certmap_file_id_equal(certmap_index_source(f->current), &id)
            || (htaccess && f->shm >= 0))) {
        /* From .htaccess, a map file the parent watches is at most one
         * monitor run behind: take what the reload gave. */
        *out = f;
        return NULL;
    }
    if (f == NULL) {
        f = registry_add(reg, path);
        f->htaccess_only = htaccess;
    }
    index_path = apr_pstrcat(cmd->temp_pool, f->index_base, ".idx", NULL);
    if (!htaccess && reg->shm != NULL && f->shm >= 0) {
        /* A graceful restart: what the polling process published. */
        shm_file *sf = &reg->shm->files[f->shm];

        if (!(sf->seq & 1) && *sf->path != '\0'
            && certmap_file_id_equal(&sf->source, &id)) {
            index_path = apr_pstrdup(cmd->temp_pool, sf->path);
        }
    }
    if (!htaccess) {
        apr_dir_make(index_dir(cmd->temp_pool),
                     APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_UEXECUTE
                         | APR_FPROT_GREAD | APR_FPROT_GEXECUTE,
                     cmd->temp_pool);
    }
    if (!htaccess
        && certmap_index_open(cmd->temp_pool, index_path, &idx) == NULL) {
        if (!certmap_file_id_equal(certmap_index_source(idx), &id)
            || strcmp(certmap_index_map_path(idx), path) != 0) {
            certmap_index_close(idx);
            idx = NULL;
        }
    }
    if (idx == NULL && !htaccess && dir_writable(cmd->temp_pool, index_path)) {
        unsigned int count = 0;

        err = certmap_index_compile(
            cmd->temp_pool, path, index_path,
            APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, &count);
        if (err != NULL) {
            return err;
        }
        err = certmap_index_open(cmd->temp_pool, index_path, &idx);
        if (err != NULL) {
            return err;
        }
    }
    if (idx == NULL) {
        /* .htaccess (a child, not allowed to write the runtime dir) or
         * `apache2 -t` run by a user who cannot: in memory. */
        err = certmap_index_compile_mem(cmd->temp_pool, path, &idx);
        if (err != NULL) {
            return err;
        }
        index_path = "";
    }
    install(reg, f, idx, index_path);
    *out = f;
    return NULL;
}

const char *certmap_cmd_file(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    registry *reg = registry_get(cmd->server->process->pool);
    certmap_table_t *table;
    slot_node *n;
    mapfile *f = NULL;
    const char *err;
    int htaccess = (cmd->pool == cmd->temp_pool);

    if (path == NULL) {
        return certmap_cmd_error(
            cmd, apr_psprintf(cmd->pool, "invalid path '%s'", arg));
    }
    apr_thread_mutex_lock(reg->mutex);
    err = acquire(cmd, reg, path, &f);
    if (err != NULL) {
        apr_thread_mutex_unlock(reg->mutex);
        return certmap_cmd_error(cmd, err);
    }
    n = apr_pcalloc(cmd->pool, sizeof(*n));
    n->file = f;
    n->slot.current = f->current;
    if (!htaccess) {
        /* A slot from .htaccess lives for one request: it keeps the index
         * it was given, which stays mapped for the grace period at
         * least after a swap. */
        n->next = f->slots;
        if (f->slots != NULL) {
            f->slots->prev = n;
        }
        f->slots = n;
        apr_pool_cleanup_register(cmd->pool, n, slot_unlink,
                                  apr_pool_cleanup_null);
    }
    apr_thread_mutex_unlock(reg->mutex);

    table = certmap_own_table(cmd, dconf);
    /* A certificate this scope's directives map to another account is a
     * configuration error, as within one map file. */
    err = n->slot.current ? certmap_table_check_index(cmd->temp_pool, table,
                                                      n->slot.current)
                          : NULL;
    if (err != NULL) {
        return certmap_cmd_error(cmd, err);
    }
    certmap_table_add_index(table, &n->slot);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Publishing                                                         */

/* Take the entry for writing; 0 when another process holds it. */
static int shm_take(shm_file *sf, apr_uint32_t *seq)
{
    apr_uint32_t cur = __atomic_load_n(&sf->seq, __ATOMIC_ACQUIRE);

    if (cur & 1) {
        return 0;
    }
    if (!__atomic_compare_exchange_n(&sf->seq, &cur, cur + 1, 0,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return 0;
    }
    *seq = cur + 1;
    return 1;
}

static apr_uint32_t shm_give(shm_file *sf, apr_uint32_t seq)
{
    __atomic_store_n(&sf->seq, seq + 1, __ATOMIC_RELEASE);
    return seq + 1;
}

/* Make `path` (an index of `source`) what every process uses; returns
 * 0 when another writer held the entry (try again later). */
static int publish(registry *reg, mapfile *f, const char *path,
                   const certmap_file_id_t *source)
{
    shm_file *sf;
    apr_uint32_t seq;

    if (reg->shm == NULL || f->shm < 0) {
        return 1;
    }
    sf = &reg->shm->files[f->shm];
    if (!shm_take(sf, &seq)) {
        return 0;
    }
    if (strcmp(sf->path, path) != 0) {
        apr_cpystrn(sf->path, path, sizeof(sf->path));
        sf->source = *source;
        sf->have_failed = 0;
        seq += 2; /* a new publication */
    }
    shm_give(sf, seq);
    return 1;
}

/* The polling process: compile the map files that changed and publish
 * them.  Every process applies them at its next request. */
static void check_files(registry *reg, apr_pool_t *p, server_rec *s)
{
    apr_time_t now = apr_time_now();
    mapfile *f;

    for (f = reg->files; f != NULL; f = f->next) {
        certmap_file_id_t id;
        certmap_index_t *idx = NULL;
        shm_file *sf;
        const char *err, *out;
        char old[CERTMAP_SHM_PATH];
        unsigned int count = 0;
        apr_uint32_t seq;

        if (f->slots == NULL || f->shm < 0 || reg->shm == NULL) {
            continue;
        }
        sf = &reg->shm->files[f->shm];
        if (certmap_file_id(p, f->map_path, &id) != NULL) {
            continue; /* being replaced, or gone: keep what we have */
        }
        if ((sf->seq & 1) || certmap_file_id_equal(&sf->source, &id)
            || (sf->have_failed && certmap_file_id_equal(&sf->failed, &id))) {
            continue;
        }
        if (now - (apr_time_t)(id.mtime_ns / 1000) < CERTMAP_SETTLE) {
            continue; /* maybe still being written: next time */
        }
        if (!shm_take(sf, &seq)) {
            continue;
        }
        out = apr_psprintf(p, "%s-%" APR_UINT64_T_FMT ".idx", f->index_base,
                           ++sf->file_gen);
        err = certmap_index_compile(
            p, f->map_path, out,
            APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, &count);
        if (err == NULL) {
            /* Checks what the children will map, and gives the count. */
            err = certmap_index_open(p, out, &idx);
        }
        if (err != NULL) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "CERTMAP0030: %s; keeping the previous table of %s",
                         err, f->map_path);
            sf->failed = id;
            sf->have_failed = 1;
            shm_give(sf, seq);
            unlink(out);
            continue;
        }
        apr_cpystrn(old, sf->path, sizeof(old));
        apr_cpystrn(sf->path, out, sizeof(sf->path));
        /* The id the compiler took before reading: a change during the
         * compilation is seen at the next poll. */
        sf->source = *certmap_index_source(idx);
        sf->have_failed = 0;
        shm_give(sf, seq + 2);
        stale_add(reg, old);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "CERTMAP0031: reloaded %s: %u entries (index %s)",
                     f->map_path, certmap_index_count(idx), out);
        certmap_index_close(idx);
    }
    reap_stale(reg, now);
}

static apr_status_t watchdog_poll(int state, void *data, apr_pool_t *p)
{
    registry *reg = data;

    if (state != AP_WATCHDOG_STATE_STOPPING) {
        check_files(reg, p, reg->server);
    }
    return APR_SUCCESS;
}

/* One child at a time (a singleton child watchdog of mod_watchdog, which
 * is built into httpd) looks at the map files every CERTMAP_POLL. */
static void start_polling(registry *reg, apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    ap_watchdog_t *w;
    int any = 0;
    mapfile *f;

    reg->watchdog = 0;
    reg->server = s;
    for (f = reg->files; f != NULL; f = f->next) {
        any |= (f->slots != NULL && f->shm >= 0);
    }
    if (!any) {
        return;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (get_instance != NULL && register_callback != NULL
        && get_instance(&w, "certmap", 0, 1, pconf) == APR_SUCCESS
        && register_callback(w, CERTMAP_POLL, reg, watchdog_poll)
               == APR_SUCCESS) {
        reg->watchdog = 1;
        return;
    }
    if (!reg->told_no_watchdog) {
        reg->told_no_watchdog = 1;
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                     "CERTMAP0038: mod_watchdog is not available: changed "
                     "map files are noticed within about ten seconds "
                     "instead of one");
    }
}

/* At the first start (no children yet, nobody maps anything else):
 * remove index files earlier runs left that no map file uses now. */
static void remove_leftovers(registry *reg, apr_pool_t *p)
{
    const char *dir = index_dir(p);
    apr_dir_t *d;
    apr_finfo_t fi;

    if (apr_dir_open(&d, dir, p) != APR_SUCCESS) {
        return;
    }
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE, d)
           == APR_SUCCESS) {
        const char *full;
        apr_size_t len = strlen(fi.name);
        mapfile *f;
        int used = 0;

        if (fi.filetype != APR_REG || strncmp(fi.name, "certmap-", 8) != 0
            || len < 4 || strcmp(fi.name + len - 4, ".idx") != 0) {
            continue;
        }
        full = apr_pstrcat(p, dir, "/", fi.name, NULL);
        for (f = reg->files; f != NULL; f = f->next) {
            used |= (strcmp(f->current_path, full) == 0);
        }
        if (!used) {
            unlink(full);
        }
    }
    apr_dir_close(d);
}

/* Forget the index files waiting to be unlinked. */
static void free_stale(registry *reg)
{
    stale_file *s;

    while ((s = reg->stale) != NULL) {
        reg->stale = s->next;
        free(s->path);
        free(s);
    }
}

/* The registry lives in the process pool, which httpd destroys at exit
 * after it unloaded the module: its own cleanup could not run there.
 * This one runs with each configuration pool, while the module is still
 * loaded (registered after LoadModule's unload cleanup); only when the
 * process exits (not at a restart, which keeps the registry) it closes
 * the indexes and frees the lists kept outside the pools. */
static apr_status_t registry_exit_cleanup(void *data)
{
    registry *reg = the_registry;
    mapfile *f;
    retired *r;

    (void)data;
    if (reg == NULL || ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING) {
        return APR_SUCCESS;
    }
    for (f = reg->files; f != NULL; f = f->next) {
        certmap_index_close(f->current);
        f->current = NULL;
    }
    while ((r = reg->retired) != NULL) {
        reg->retired = r->next;
        certmap_index_close(r->idx);
        free(r);
    }
    reg->oldest_retired = 0;
    free_stale(reg);
    return APR_SUCCESS;
}

static int certmap_file_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    apr_pool_cleanup_register(pconf, NULL, registry_exit_cleanup,
                              apr_pool_cleanup_null);
    return OK;
}

static int certmap_file_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                    apr_pool_t *ptemp, server_rec *s)
{
    registry *reg = the_registry;
    mapfile *f;

    (void)plog;
    if (reg == NULL) {
        return OK;
    }
    if (reg->shm == NULL) {
        void *m = mmap(NULL, sizeof(shm_area), PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

        if (m == MAP_FAILED) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s,
                         "CERTMAP0034: cannot create the shared memory for "
                         "reloading map files; changed map files take "
                         "effect at the next graceful restart only");
        }
        else {
            reg->shm = m; /* lives as long as the process: never unmapped */
        }
        remove_leftovers(reg, ptemp);
    }
    give_to_children(index_dir(ptemp));
    for (f = reg->files; f != NULL; f = f->next) {
        if (f->slots == NULL) {
            continue;
        }
        if (f->shm < 0 && reg->shm != NULL) {
            if (reg->shm_used < CERTMAP_SHM_FILES) {
                f->shm = reg->shm_used++;
            }
            else {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                             "CERTMAP0035: more than %d map files; %s is "
                             "reloaded at graceful restarts only",
                             CERTMAP_SHM_FILES, f->map_path);
            }
        }
        give_to_children(f->current_path);
        if (*f->current_path != '\0') {
            /* Old children may write too (CAS): wait for them. */
            int tries;

            for (tries = 0; tries < 1000; tries++) {
                if (publish(reg, f, f->current_path,
                            certmap_index_source(f->current))) {
                    break;
                }
                apr_sleep(apr_time_from_msec(5));
            }
        }
        if (reg->shm != NULL && f->shm >= 0) {
            f->seen_seq = reg->shm->files[f->shm].seq;
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     "CERTMAP0032: %s: %u entries, index %s (%" APR_SIZE_T_FMT
                     " bytes)",
                     f->map_path, certmap_index_count(f->current),
                     *f->current_path ? f->current_path : "in memory",
                     certmap_index_bytes(f->current));
    }
    apr_thread_mutex_lock(reg->mutex);
    reap_retired(reg, apr_time_now());
    apr_thread_mutex_unlock(reg->mutex);
    start_polling(reg, pconf, s);
    return OK;
}

static void apply(registry *reg, mapfile *f, server_rec *s, apr_pool_t *p);

/* The parent's maintenance loop, every ten seconds: without
 * mod_watchdog, look at the map files; and follow the publications, so
 * that the parent does not keep an old index mapped until the next
 * restart (it serves no requests: nothing else reads its slots). */
static int certmap_file_monitor(apr_pool_t *p, server_rec *s)
{
    registry *reg = the_registry;
    mapfile *f;

    if (reg == NULL) {
        return DECLINED;
    }
    if (!reg->watchdog) {
        check_files(reg, p, s);
    }
    if (reg->shm != NULL) {
        apr_thread_mutex_lock(reg->mutex);
        for (f = reg->files; f != NULL; f = f->next) {
            if (f->shm >= 0 && f->slots != NULL) {
                apply(reg, f, s, p);
            }
        }
        reap_retired(reg, apr_time_now());
        apr_thread_mutex_unlock(reg->mutex);
    }
    return DECLINED;
}

/* ------------------------------------------------------------------ */
/* Applying (children)                                                */

/* Runs before mod_watchdog's child_init starts the polling thread (see
 * certmap_file_register_hooks): nothing else uses the registry yet. */
static void child_init(apr_pool_t *p, server_rec *s)
{
    registry *reg = the_registry;

    (void)s;
    if (reg != NULL) {
        reg->is_child = 1;
        /* The parent's polling thread may have held the mutex at fork. */
        apr_thread_mutex_create(&reg->mutex, APR_THREAD_MUTEX_DEFAULT, p);
        /* Index files the parent unlinks: free this process's copy of
         * its list. */
        free_stale(reg);
    }
}

/* One map file: map the index the parent published, if newer. */
static void apply(registry *reg, mapfile *f, server_rec *s, apr_pool_t *p)
{
    shm_file *sf = &reg->shm->files[f->shm];
    apr_uint32_t seq1, seq2;
    char path[CERTMAP_SHM_PATH];
    certmap_index_t *idx;
    const char *err;

    seq1 = __atomic_load_n(&sf->seq, __ATOMIC_ACQUIRE);
    if (seq1 == f->seen_seq || seq1 == f->failed_seq || (seq1 & 1)) {
        return;
    }
    memcpy(path, sf->path, sizeof(path));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    seq2 = __atomic_load_n(&sf->seq, __ATOMIC_ACQUIRE);
    if (seq1 != seq2) {
        return; /* written meanwhile: the next request reads it */
    }
    path[sizeof(path) - 1] = '\0';
    err = certmap_index_open(p, path, &idx);
    if (err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "CERTMAP0036: cannot map the new index of %s: %s; "
                     "keeping the previous table",
                     f->map_path, err);
        f->failed_seq = seq1;
    }
    else {
        install(reg, f, idx, path);
        f->seen_seq = seq1;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     "CERTMAP0037: now using %s for %s (%u entries)", path,
                     f->map_path, certmap_index_count(idx));
    }
}

static int certmap_file_post_read_request(request_rec *r)
{
    registry *reg = the_registry;
    mapfile *f;
    int changed = 0;

    if (reg == NULL || reg->shm == NULL || !reg->is_child) {
        return DECLINED;
    }
    for (f = reg->files; f != NULL; f = f->next) {
        apr_uint32_t seq;

        if (f->shm < 0) {
            continue;
        }
        /* Odd: a writer holds the entry (compiling): nothing new yet. */
        seq = __atomic_load_n(&reg->shm->files[f->shm].seq, __ATOMIC_RELAXED);
        if (!(seq & 1) && seq != f->seen_seq && seq != f->failed_seq) {
            changed = 1;
            break;
        }
    }
    if (!changed && reg->oldest_retired == 0) {
        return DECLINED;
    }
    if (!changed
        && r->request_time - reg->oldest_retired < CERTMAP_RETIRE_GRACE) {
        return DECLINED;
    }
    apr_thread_mutex_lock(reg->mutex);
    for (f = reg->files; f != NULL; f = f->next) {
        if (f->shm >= 0 && f->slots != NULL) {
            apply(reg, f, r->server, r->pool);
        }
    }
    reap_retired(reg, apr_time_now());
    apr_thread_mutex_unlock(reg->mutex);
    return DECLINED;
}

void certmap_file_register_hooks(apr_pool_t *p)
{
    /* child_init before mod_watchdog starts the polling thread. */
    static const char *const before_watchdog[] = {"mod_watchdog.c", NULL};

    (void)p;
    ap_hook_pre_config(certmap_file_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(certmap_file_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(certmap_file_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, before_watchdog, APR_HOOK_MIDDLE);
    /* First: before mod_certmap_forward's and anything that maps. */
    ap_hook_post_read_request(certmap_file_post_read_request, NULL, NULL,
                              APR_HOOK_REALLY_FIRST);
}
