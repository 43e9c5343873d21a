# SPDX-License-Identifier: MIT
"""Fixtures for the reference platform's tests: each test gets its own data dir and its own server
process on 127.0.0.1:0, always killed in teardown."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from platform_client import Platform  # noqa: E402


@pytest.fixture
def platform(tmp_path):
    p = Platform(tmp_path / "data")
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def demo(tmp_path):
    p = Platform(tmp_path / "data", demo=True)
    try:
        yield p
    finally:
        p.stop()
