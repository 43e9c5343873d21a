# SPDX-License-Identifier: MIT
"""Token selection on real SoftHSM tokens (issue 12): several tokens and no selector raise
AmbiguousToken, whose ``candidates`` are full RFC 7512 URIs (module and slot included) that each
open exactly their token when passed back; the URIs round-trip through the library's parser."""
from __future__ import annotations

import pickle
from typing import Any

import pytest

import support
import zrca


def test_ambiguous_lists_candidates(softhsm: Any) -> None:
    softhsm.add_token("select-a")
    softhsm.add_token("select-b")
    with pytest.raises(zrca.AmbiguousToken) as ei:
        zrca.Token(module_path=support.SOFTHSM_MODULE)
    e = ei.value
    assert isinstance(e, zrca.InvalidArgument)
    assert e.code == zrca.Status.EINVAL and e.field == "uri" and e.rule == "ambiguous"
    assert len(e.candidates) >= 2
    for uri in e.candidates:
        assert uri in e.message
        assert "?module-name=softhsm2&module-path=" in uri and ";slot-id=" in uri
    # It survives pickling (multiprocessing) with its candidates.
    assert pickle.loads(pickle.dumps(e)).candidates == e.candidates
    labels = set()
    for uri in e.candidates:
        with zrca.Token(uri=uri) as t:
            info = t.info()
            assert info.uri == uri
            labels.add(info.label)
    assert {"select-a", "select-b"} <= labels and len(labels) == len(e.candidates)
    # list_tokens gives the same URIs.
    assert {i.uri for i in zrca.list_tokens(module_path=support.SOFTHSM_MODULE)} == set(e.candidates)


def test_bad_uri_attributes(softhsm: Any) -> None:
    softhsm.add_token("select-c")
    with pytest.raises(zrca.InvalidArgument) as ei:
        zrca.Token(module_path=support.SOFTHSM_MODULE, uri="pkcs11:token=select-c;colour=blue")
    assert not isinstance(ei.value, zrca.AmbiguousToken)
    assert ei.value.rule == "unknown_attribute" and "colour" in ei.value.message
    with pytest.raises(zrca.InvalidArgument) as ei:
        zrca.Token(module_path=support.SOFTHSM_MODULE, uri="pkcs11:slot-id=one")
    assert ei.value.rule == "slot_id"
    with zrca.Token(module_path=support.SOFTHSM_MODULE, uri="pkcs11:token=select-c?module-name=softhsm2") as t:
        assert t.info().label == "select-c"
