"""The real server on a temporary database (uvicorn in a thread, a free loopback port), the users of two sites,
a seeded allocation list, and Debian's chromium driven by Playwright.

``live_server`` runs once per backend of ``edc_fixtures`` (SQLite file, and a database of the PostgreSQL server
the session starts), so every browser test that uses it runs on both."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from edc_fixtures import PASSWORD, World, build_world, edc_settings, free_port
from oligotrial.api import create_app
from oligotrial.services import open_edc, randomization

ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "web"


@dataclass
class LiveServer:
    url: str
    world: World
    backend: str


def start_server(database_url: str, **settings: object):
    """Serve ``database_url`` (initialized: schema and administrator) with two sites' users and a list."""
    edc = open_edc(edc_settings(database_url, **settings))
    world = build_world(edc)
    randomization.generate_randomization_list(
        edc, world.actor("statistician"), entries_per_stratum=8, seed=20240501
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(edc.settings, edc), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    return server, thread, LiveServer(f"http://127.0.0.1:{port}", world, edc.dialect)


@pytest.fixture
def live_server(database_url):
    """The server on a fresh database of each backend (the ``backend`` parameter of ``database_url``)."""
    server, thread, live = start_server(database_url)
    yield live
    server.should_exit = True
    thread.join(10)
    live.world.edc.engine.dispose()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


__all__ = ["ARTIFACTS", "PASSWORD", "LiveServer", "start_server"]
