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

#endif /* CERTMAP_FUZZ_H */
