"""Shared test set-up: everything stays on loopback."""

from __future__ import annotations

import os

# The SDKs' HTTP client honours HTTP_PROXY even for loopback; the fakes must be reached directly.
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_var, None)
