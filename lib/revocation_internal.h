/* SPDX-License-Identifier: MIT */
/*
 * Revocation internals shared with the fuzz target: the decoder of one
 * revocation request as the platform sends it (doc/protocol.md §17.3).
 */
#ifndef ZRI_REVOCATION_INTERNAL_H
#define ZRI_REVOCATION_INTERNAL_H

#include "json.h"
#include "zrca/revocation.h"

/* One request from its JSON object, every member checked; ZRCA_EPROTOCOL for a bad one. */
int zri_revocation_decode(zrca_revocation **out, const zri_json *v);

#endif
