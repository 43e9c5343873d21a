# SPDX-License-Identifier: MIT
"""The libzrca reference platform: the platform API v1 of doc/protocol.md."""
