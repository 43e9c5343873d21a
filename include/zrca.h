/* SPDX-License-Identifier: MIT */
/*
 * libzrca - renewal of CA certificates held on USB keys.
 *
 * The umbrella header: include this one.
 */
#ifndef ZRCA_H
#define ZRCA_H

/**
 * @file zrca.h
 * @brief Umbrella header of libzrca: includes every public module header.
 *
 * Headers under `zrca/sys/` are for authors of transports and crypto
 * backends and are not included here.
 */

#include "zrca/common.h"
#include "zrca/token.h"
#include "zrca/session.h"
#include "zrca/order.h"
#include "zrca/application.h"
#include "zrca/update.h"
#include "zrca/revocation.h"

#endif /* ZRCA_H */
