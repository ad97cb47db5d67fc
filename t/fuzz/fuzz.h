/*
 * fuzz.h - what the fuzz targets share.
 *
 * Every target defines LLVMFuzzerInitialize() (libFuzzer calls it once;
 * standalone.c calls it too) and LLVMFuzzerTestOneInput().  Invariants
 * are checked with FUZZ_CHECK, which aborts whatever NDEBUG says, so
 * libFuzzer and the gcc replayer both report a broken one as a crash.
 */
#ifndef CERTMAP_FUZZ_H
#define CERTMAP_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* The value of a hex digit of either case, -1 for any other character. */
static inline int fuzz_hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* The value of a standard base64 digit (RFC 4648 section 4), -1 for any
 * other character: the targets decode base64 themselves, independently
 * of the code under test. */
static inline int fuzz_b64_value(int c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

#endif /* CERTMAP_FUZZ_H */
