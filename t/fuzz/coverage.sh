#!/bin/sh
# t/fuzz/coverage.sh - line and function coverage of the code each fuzz
# target tests, measured by replaying a corpus (e.g. one a fuzzing run
# grew) through the target built with clang's source-based coverage.
#
# usage: t/fuzz/coverage.sh [-o OUTDIR] TARGET[=CORPUS_DIR]...
#   TARGET      mapline key cert account forward index iis ldap
#   CORPUS_DIR  default: t/fuzz/corpus/TARGET (the committed seeds)
#   OUTDIR      default: a new directory under ${TMPDIR:-/tmp}; it keeps
#               the binaries, the profiles and each target's report.txt
#
# Run from the top of the source tree.  Needs clang-14, llvm-profdata-14
# and llvm-cov-14 (Debian: clang-14, llvm-14) and the build dependencies
# of the fuzzers (libapr1-dev, libaprutil1-dev, libssl-dev).
#
# Each target is t/fuzz/fuzz_TARGET.c + t/fuzz/standalone.c (the replayer
# of `make check`) + the engine sources and tools/certmap_iis.c, compiled
# with -fprofile-instr-generate -fcoverage-mapping (no sanitizers, -O0).
# The replayer reads every file of CORPUS_DIR once; the raw profile is
# merged with llvm-profdata and summarised with `llvm-cov report` over
# the source files that hold the code under test:
#   account: engine/certmap_account.c      key, cert: engine/certmap_cert.c
#   mapline: engine/certmap_table.c engine/certmap_cert.c
#   forward: engine/certmap_forward.c      iis: tools/certmap_iis.c
#   index:   engine/certmap_index.c engine/certmap_table.c
#   ldap:    engine/certmap_ldap.c
# Printed per target: one line "TARGET inputs=N lines=L% functions=F%
# lines_in_reached_functions=R%" (L and F over those files together; R
# over the functions of those files the corpus entered at all, since the
# files also hold code no parser calls), then llvm-cov's per-file table;
# OUTDIR/TARGET/functions.txt has the per-function table.
# `llvm-cov show` with the same arguments (see OUTDIR/TARGET/show.sh)
# shows which lines were never reached.
set -eu

out=""
if [ "${1:-}" = "-o" ]; then
    out=$2
    shift 2
fi
if [ $# -eq 0 ]; then
    sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
fi
if [ ! -f t/fuzz/standalone.c ]; then
    echo "coverage.sh: run it from the top of the source tree" >&2
    exit 2
fi
top=$(pwd)
CC=${CC:-clang-14}
PROFDATA=${PROFDATA:-llvm-profdata-14}
COV=${COV:-llvm-cov-14}
[ -n "$out" ] || out=$(mktemp -d "${TMPDIR:-/tmp}/certmap-fuzzcov-XXXXXX")
mkdir -p "$out"
out=$(cd "$out" && pwd)

engine="engine/certmap_account.c engine/certmap_cert.c
 engine/certmap_forward.c engine/certmap_index.c engine/certmap_ldap.c
 engine/certmap_table.c tools/certmap_iis.c"
apr_cflags=$(pkg-config --cflags apr-1 apr-util-1)
apr_libs=$(pkg-config --libs apr-1 apr-util-1)

files_of() {
    case $1 in
    account) echo engine/certmap_account.c ;;
    key | cert) echo engine/certmap_cert.c ;;
    mapline) echo engine/certmap_table.c engine/certmap_cert.c ;;
    forward) echo engine/certmap_forward.c ;;
    index) echo engine/certmap_index.c engine/certmap_table.c ;;
    iis) echo tools/certmap_iis.c ;;
    ldap) echo engine/certmap_ldap.c ;;
    *) return 1 ;;
    esac
}

status=0
for arg in "$@"; do
    t=${arg%%=*}
    corpus=t/fuzz/corpus/$t
    [ "$arg" = "$t" ] || corpus=${arg#*=}
    if ! files=$(files_of "$t"); then
        echo "coverage.sh: unknown target $t" >&2
        exit 2
    fi
    d=$out/$t
    mkdir -p "$d"
    # shellcheck disable=SC2086 # word splitting of the flag lists is meant
    $CC -O0 -g -fprofile-instr-generate -fcoverage-mapping \
        -Iinclude -Itools $apr_cflags -D_GNU_SOURCE \
        t/fuzz/fuzz_$t.c t/fuzz/standalone.c $engine \
        $apr_libs -lcrypto -o "$d/replay_$t"
    rm -f "$d"/*.profraw
    # TMPDIR: the targets that write files make their private directory
    # there; keep it out of the corpus.
    if ! (cd "$d" && LLVM_PROFILE_FILE="$d/%p.profraw" TMPDIR="$d" \
            "$d/replay_$t" "$top/$corpus" >"$d/replay.log" 2>&1) &&
        ! (cd "$d" && LLVM_PROFILE_FILE="$d/%p.profraw" TMPDIR="$d" \
            "$d/replay_$t" "$corpus" >"$d/replay.log" 2>&1); then
        echo "$t: the replay failed, see $d/replay.log" >&2
        status=1
        continue
    fi
    inputs=$(sed -n 's/^replayed \([0-9]*\) inputs$/\1/p' "$d/replay.log")
    $PROFDATA merge -sparse -o "$d/$t.profdata" "$d"/*.profraw
    # shellcheck disable=SC2086
    $COV report "$d/replay_$t" -instr-profile="$d/$t.profdata" \
        $files >"$d/report.txt"
    # shellcheck disable=SC2086
    echo "$COV show $d/replay_$t -instr-profile=$d/$t.profdata" \
        "-show-line-counts-or-regions" \
        "$(for f in $files; do printf ' %s' "$top/$f"; done)" >"$d/show.sh"
    # TOTAL row: Regions Missed Cover Functions Missed Executed Lines
    # Missed Cover ...; with one file there is no TOTAL row, take the file.
    # Lines of the functions the corpus entered at all: how much of the
    # code the target reaches it covers (the files also hold functions no
    # parser calls, e.g. certmap_cert.c's decision helpers for `key`).
    # shellcheck disable=SC2086
    $COV report -show-functions "$d/replay_$t" -instr-profile="$d/$t.profdata" \
        $files >"$d/functions.txt"
    reached=$(awk '
        NF == 10 && $2 ~ /^[0-9]+$/ && $1 != "TOTAL" && $3 < $2 {
            lines += $5; miss += $6
        }
        END { if (lines) printf "%.2f%%", 100 * (lines - miss) / lines }' \
        "$d/functions.txt")
    awk -v t="$t" -v n="$inputs" -v r="$reached" '
        $1 ~ /\.c$/ || $1 == "TOTAL" { row = $0 }
        END {
            split(row, f, /[ \t]+/)
            printf "%s inputs=%s lines=%s functions=%s lines_in_reached_functions=%s\n",
                t, n, f[10], f[7], r
        }' "$d/report.txt"
    sed 's/^/    /' "$d/report.txt"
done
echo "profiles and reports in $out"
exit $status
