/*
 * certmap_internal.h - helpers the engine's files share (not part of the
 * engine's interface).
 */
#ifndef CERTMAP_INTERNAL_H
#define CERTMAP_INTERNAL_H

#include <apr.h>
#include <apr_file_io.h>

/* Length of the valid UTF-8 sequence at s (at most `avail` bytes), with
 * its code point in *cp; 0 when the bytes are not valid UTF-8 (overlong,
 * surrogate, beyond U+10FFFF, truncated). */
apr_size_t certmap_utf8_sequence(const unsigned char *s, apr_size_t avail,
                                 unsigned long *cp);

/* Characters that would let a value split or disguise a header or a log
 * line: C0 and C1 controls, DEL, the Unicode line and paragraph
 * separators, zero-width and bidirectional formatting marks, BOM. */
int certmap_char_forbidden(unsigned long cp);

/* Open a map file for reading: a regular file of at most 2 GB.  Errors
 * name the path ("cannot read map file PATH: ..."). */
const char *certmap_map_file_open(apr_pool_t *p, const char *path,
                                  apr_file_t **f, apr_finfo_t *finfo);

/* Skip a UTF-8 byte order mark at the start of a map file's text. */
void certmap_map_text_start(char **text, apr_size_t *len);

/* Cut the map-file line that starts at `line` (the text ends at
 * `text_end`) at its '\n', in place, dropping a CR before it; *next is
 * where the following line starts.  Returns 0 when the line holds a NUL
 * byte, else 1 with *blank set for a blank or comment line. */
int certmap_map_line_cut(char *line, char *text_end, char **next, int *blank);

#endif /* CERTMAP_INTERNAL_H */
