/*
 * standalone.c - replay a corpus through one fuzz target without
 * libFuzzer, so that "make check" runs every target under plain gcc.
 *
 * Usage: replay_X FILE|DIR...  Each directory contributes its regular
 * files in name order (subdirectories and dot files are skipped), so a
 * run is reproducible.  Exit 0 after all inputs, 1 when one cannot be
 * read.  A broken invariant aborts in the target itself.
 *
 * Without arguments the target's own corpus is replayed: FUZZ_CORPUS
 * (set with -D when building, e.g. "t/fuzz/corpus/key") relative to
 * $srcdir, which automake's test harness exports.  That way a TESTS
 * entry needs no wrapper script.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long replayed;
static const char *current; /* the input being replayed, for a crash */

/* Name the input that crashed, then die of the same signal. */
static void on_crash(int sig)
{
    static const char msg[] = "replay: crashed on input ";

    if (current != NULL) {
        (void)!write(2, msg, sizeof(msg) - 1);
        (void)!write(2, current, strlen(current));
        (void)!write(2, "\n", 1);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Read a whole file into malloc'ed memory; NULL with errno set on
 * failure.  An empty file gives a valid pointer and *size 0. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t cap = 0, len = 0, n;

    if (f == NULL) {
        return NULL;
    }
    for (;;) {
        if (len == cap) {
            uint8_t *nbuf;
            cap = cap ? 2 * cap : 4096;
            nbuf = realloc(buf, cap);
            if (nbuf == NULL) {
                free(buf);
                fclose(f);
                errno = ENOMEM;
                return NULL;
            }
            buf = nbuf;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        errno = EIO;
        return NULL;
    }
    fclose(f);
    *size = len;
    return buf;
}

static int replay_file(const char *path)
{
    size_t size = 0;
    uint8_t *data = read_file(path, &size);

    if (data == NULL) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    /* A private copy of exactly `size` bytes, as libFuzzer hands over,
     * so that ASan catches a target that reads one byte too far. */
    {
        uint8_t *copy = malloc(size ? size : 1);
        if (copy == NULL) {
            free(data);
            fprintf(stderr, "out of memory for %s\n", path);
            return -1;
        }
        memcpy(copy, data, size);
        free(data);
        current = path;
        LLVMFuzzerTestOneInput(copy, size);
        current = NULL;
        free(copy);
    }
    replayed++;
    return 0;
}

/* Only where nobody else (a sanitizer runtime) handles the signal. */
static void catch_crash(int sig)
{
    struct sigaction old;

    if (sigaction(sig, NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
        signal(sig, on_crash);
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "cannot read %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            char **nnames;
            cap = cap ? 2 * cap : 64;
            nnames = realloc(names, cap * sizeof(*names));
            if (nnames == NULL) {
                rc = -1;
                break;
            }
            names = nnames;
        }
        names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
        if (names[n] == NULL) {
            rc = -1;
            break;
        }
        sprintf(names[n], "%s/%s", dir, de->d_name);
        n++;
    }
    closedir(d);
    if (rc != 0) {
        fprintf(stderr, "out of memory listing %s\n", dir);
    }
    else if (n > 0) {
        qsort(names, n, sizeof(*names), by_name);
    }
    for (i = 0; i < n; i++) {
        struct stat st;
        if (rc == 0 && stat(names[i], &st) != 0) {
            fprintf(stderr, "cannot read %s: %s\n", names[i], strerror(errno));
            rc = -1;
        }
        else if (rc == 0 && S_ISREG(st.st_mode)) {
            rc = replay_file(names[i]);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int i, rc = 0;
    static char corpus[4096];
    char *dflt[3];

    if (argc < 2) {
#ifdef FUZZ_CORPUS
        const char *srcdir = getenv("srcdir");

        if (srcdir == NULL || *srcdir == '\0') {
            srcdir = ".";
        }
        snprintf(corpus, sizeof(corpus), "%s/%s", srcdir, FUZZ_CORPUS);
        dflt[0] = argv[0];
        dflt[1] = corpus;
        dflt[2] = NULL;
        argc = 2;
        argv = dflt;
#else
        (void)corpus;
        (void)dflt;
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
#endif
    }
    catch_crash(SIGABRT);
    catch_crash(SIGSEGV);
    catch_crash(SIGBUS);
    catch_crash(SIGFPE);
    LLVMFuzzerInitialize(&argc, &argv);
    for (i = 1; i < argc && rc == 0; i++) {
        struct stat st;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "cannot read %s: %s\n", argv[i], strerror(errno));
            rc = -1;
        }
        else {
            rc = S_ISDIR(st.st_mode) ? replay_dir(argv[i])
                                     : replay_file(argv[i]);
        }
    }
    if (rc != 0) {
        return 1;
    }
    printf("replayed %lu inputs\n", replayed);
    return 0;
}
