/*
 * certmap_index.h - compiled map files (placeholder: being written).
 */
#ifndef CERTMAP_INDEX_H
#define CERTMAP_INDEX_H
#endif
