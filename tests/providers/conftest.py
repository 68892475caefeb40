"""Fixtures for the provider tests.

`canned`: a real loopback HTTP server (aiohttp, see canned_http.py) that answers with exact bytes a test scripts,
for wire quirks the simulator does not produce on purpose (CR line endings, repeated usage, `finish_reason:
"error"`, JSON where a stream was asked for, ...). It records each request so tests can check what was sent.
`client`: a plain httpx client for adapters under test. The simulator fixtures (`sim`, `sim_url`) come from
tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from canned_http import Canned  # type: ignore[import-not-found]  # this folder is on sys.path (rootdir mode)


@pytest.fixture
async def canned() -> AsyncIterator[Canned]:
    server = Canned()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False) as http:
        yield http
