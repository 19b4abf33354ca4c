"""``callisto serve`` and the in-thread test server run on uvloop and httptools.

Both come with ``uvicorn[standard]``; uvicorn's ``"auto"`` picks them where they run. The served
process is checked from outside, by the native modules it has mapped (Linux only).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from callisto.testing._server import ThreadedServer
from tests.unit.test_cli import callisto_serve

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def serving_process_maps(port: int) -> str:
    """Return the memory map of the ``callisto serve`` process listening on ``port``."""
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            b"serve" in argv
            and b"--port" in argv
            and argv[argv.index(b"--port") + 1] == str(port).encode()
        ):
            return (proc / "maps").read_text()
    raise AssertionError(f"no callisto serve process on port {port}")


@linux_only
def test_callisto_serve_runs_on_uvloop_and_httptools(tmp_path: Path) -> None:
    with callisto_serve(tmp_path) as (url, _log):
        assert httpx.get(url + "/health").status_code == 200
        maps = serving_process_maps(urlsplit(url).port or 0)
    assert "/uvloop/loop." in maps
    assert "/httptools/parser/parser." in maps
    assert "/websockets/" not in maps  # ws="none": nothing loaded for a protocol no route speaks


async def loop_kind(_request: Request) -> PlainTextResponse:
    return PlainTextResponse(type(asyncio.get_running_loop()).__module__)


def test_the_test_server_runs_on_uvloop() -> None:
    app = Starlette(routes=[Route("/loop", loop_kind)])
    with ThreadedServer(app) as server:
        answer = httpx.get(server.url + "/loop")
    assert answer.status_code == 200
    assert answer.text == "uvloop"
