/* SPDX-License-Identifier: MIT */
/*
 * Wire names and the seed's labels of the shared domain enums.
 */
#include <string.h>

#include "internal.h"
#include "vocab.h"

const char *zri_vocab_name(const zri_vocab *t, size_t n, int value)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].value == value)
            return t[i].name;
    return "unknown";
}

const char *zri_vocab_label(const zri_vocab *t, size_t n, int value)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].value == value)
            return t[i].label;
    return "未知";
}

int zri_vocab_value(const zri_vocab *t, size_t n, const char *name, int unknown)
{
    if (!name)
        return unknown;
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0)
            return t[i].value;
    return unknown;
}

static const zri_vocab kinds[] = {
    {ZRCA_CERT_ORG, "org", "企业机构证书"},
    {ZRCA_CERT_LEGAL_REP, "legal_rep", "法定代表人证书"},
    {ZRCA_CERT_PERSONAL, "personal", "其他个人证书"},
};

static const zri_vocab businesses[] = {
    {ZRCA_BUSINESS_RENEWAL, "renewal", "续期"},
    {ZRCA_BUSINESS_NEW, "new", "新购"},
};

static const zri_vocab id_types[] = {
    {ZRCA_ID_CARD, "id_card", "身份证"},
    {ZRCA_ID_PASSPORT, "passport", "护照"},
};

static const zri_vocab roles[] = {
    {ZRCA_ROLE_TENDERER, "tenderer", "招标人"},
    {ZRCA_ROLE_TENDERING_AGENT, "tendering_agent", "招标代理"},
    {ZRCA_ROLE_BIDDER, "bidder", "投标人"},
};

/* ..._name(), ..._label() and ..._from_name() of the shared enums. */
#define VOCAB_API(prefix, type, table, unknown)                                                    \
    ZRI_VOCAB_LABELS(prefix, type, table)                                                          \
    ZRCA_API type zrca_##prefix##_from_name(const char *name)                                      \
    {                                                                                              \
        return (type)zri_vocab_value(table, ZRI_VOCAB_COUNT(table), name, (int)(unknown));         \
    }

VOCAB_API(cert_kind, zrca_cert_kind, kinds, ZRCA_CERT_UNKNOWN)
VOCAB_API(business, zrca_business, businesses, ZRCA_BUSINESS_UNKNOWN)
VOCAB_API(id_type, zrca_id_type, id_types, ZRCA_ID_UNKNOWN)
VOCAB_API(role, zrca_role, roles, ZRCA_ROLE_UNKNOWN)
