/* SPDX-License-Identifier: MIT */
/*
 * Tables that map enum values to wire names and the seed's labels; every
 * module's enums use the same three functions.
 */
#ifndef ZRI_VOCAB_H
#define ZRI_VOCAB_H

#include <stddef.h>

typedef struct zri_vocab {
    int value;
    const char *name;  /* on the wire (doc/protocol.md) */
    const char *label; /* the seed's Chinese label */
} zri_vocab;

#define ZRI_VOCAB_COUNT(t) (sizeof(t) / sizeof((t)[0]))

const char *zri_vocab_name(const zri_vocab *t, size_t n, int value);
const char *zri_vocab_label(const zri_vocab *t, size_t n, int value);
/* The value for a wire name, or `unknown` for NULL or no match. */
int zri_vocab_value(const zri_vocab *t, size_t n, const char *name, int unknown);

/* The public _name() and _label() functions of an enum over its table. */
#define ZRI_VOCAB_LABELS(prefix, type, table)                                                      \
    ZRCA_API const char *zrca_##prefix##_name(type v)                                              \
    {                                                                                              \
        return zri_vocab_name(table, ZRI_VOCAB_COUNT(table), (int)v);                              \
    }                                                                                              \
    ZRCA_API const char *zrca_##prefix##_label(type v)                                             \
    {                                                                                              \
        return zri_vocab_label(table, ZRI_VOCAB_COUNT(table), (int)v);                             \
    }

#endif
