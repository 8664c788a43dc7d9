"""Profile the in-process cost of one audited form save and one read, as the API does them.

Usage (from the repository root)::

    .venv/bin/python benchmarks/edc/profile_save.py [--database URL] [--n 500] [--http] [--profile]

A fresh SQLite database in a temporary folder unless ``--database`` names an empty one. Each iteration is what
one load-test client does per loop: authenticate the bearer token, save the form (a change with its base
version and reason), authenticate again, read the form. ``--http`` goes through the FastAPI application
(routing, dependencies, pydantic, JSON; the ASGI calls are made directly, with the thread pool replaced by
direct calls, so that only the server's work is measured) instead of calling the services directly. Prints the mean
wall and CPU milliseconds per save+read pair (CPU time is less
sensitive to other load on the machine); ``--profile`` adds the top of a cProfile listing (cumulative time).

``--instructions`` runs the same under valgrind's callgrind (Debian package ``valgrind``) with its
instrumentation switched on only for the timed iterations, and prints the processor instructions executed
per save+read instead: a count that other load on a shared machine does not change (within a fraction of a
percent between runs), for comparing two versions of the code (``PYTHONPATH`` first on the path). It runs
about 40 times slower; ``--n 200`` is enough.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from oligotrial.protocol import load_protocol
from oligotrial.services import Actor, Role, data, init_database, open_edc
from oligotrial.services import admin as admin_services
from oligotrial.services.auth import authenticate, login
from oligotrial.settings import Settings

try:
    from oligotrial.services.auth import BearerToken
except ImportError:  # the code before the token check moved into the use cases (old-vs-new comparisons)
    BearerToken = None  # type: ignore[assignment,misc]

FAST_HASH = {"argon2_time_cost": 1, "argon2_memory_kib": 64, "argon2_parallelism": 1}
ADMIN_PASSWORD = "profile manager pass phrase"
PASSWORD = "profile site staff pass phrase"


def create_app_for(settings: Settings, edc: Any) -> Any:
    """The FastAPI application, with the thread pool replaced by direct calls (one thread: cProfile and
    ``time.process_time`` then see the server's whole work, and no client library is measured)."""
    import fastapi.dependencies.utils
    import fastapi.routing

    import oligotrial.api._hot_routes
    import oligotrial.api._routes
    import oligotrial.api.deps
    from oligotrial.api.app import create_app

    async def inline(call: Any, /, *args: Any, **kwargs: Any) -> Any:
        return call(*args, **kwargs)

    for module in (fastapi.routing, fastapi.dependencies.utils, oligotrial.api.deps):
        if hasattr(module, "run_in_threadpool"):
            module.run_in_threadpool = inline  # type: ignore[attr-defined]
    for module in (oligotrial.api.deps, oligotrial.api._hot_routes, oligotrial.api._routes):
        if hasattr(module, "in_thread"):  # the form routes' own pool (and before it, AnyIO's)
            module.in_thread = inline  # type: ignore[attr-defined]
    return create_app(settings, edc)


def _asgi_step(app: Any, token: str, code: str) -> Any:
    """One save (PUT) and one read (GET) through the ASGI application, as a client sends them."""
    loop = asyncio.new_event_loop()
    version: list[int | None] = [None]

    async def call(method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = [
            (b"host", b"127.0.0.1"),
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        status = next(m["status"] for m in sent if m["type"] == "http.response.start")
        return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    def step(n: int) -> None:
        body: dict[str, object] = {"values": {"WEIGHT": 60 + n % 30, "NOTE": f"entry {n}"}}
        if version[0] is not None:
            body |= {"base_version": version[0], "reason": "profile correction"}
        status, saved = loop.run_until_complete(
            call("PUT", f"/api/v1/subjects/{code}/forms/LOAD/VITALS", json.dumps(body).encode())
        )
        if status != 200:
            raise RuntimeError(f"save: {status} {saved[:200]!r}")
        form = json.loads(saved)
        version[0] = form["version"]
        status, read = loop.run_until_complete(call("GET", f"/api/v1/forms/{form['id']}"))
        if status != 200:
            raise RuntimeError(f"read: {status} {read[:200]!r}")

    return step


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default=None)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind")
    parser.add_argument("--callgrind-toggle", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.instructions:
        count_instructions(args.n, [a for a in sys.argv[1:] if a != "--instructions"])
        return
    folder = Path(tempfile.mkdtemp(prefix="oligotrial-profile-"))
    url = args.database or f"sqlite:///{folder / 'trial.db'}"
    settings = Settings(env="development", database_url=url, **FAST_HASH)  # type: ignore[arg-type]
    init_database(settings, load_protocol(), "admin", ADMIN_PASSWORD, source="profile")
    edc = open_edc(settings)
    system = Actor.system("profile")
    admin_services.create_site(edc, system, "S01", "Profile site")
    admin_services.create_user(
        edc,
        system,
        "coordinator",
        PASSWORD,
        "Profile Coordinator",
        roles=[(Role.RESEARCH_COORDINATOR, "S01")],
    )
    token = login(edc, "coordinator", PASSWORD, "profile").access_token
    actor = authenticate(edc, token, "profile")
    code = data.create_subject(edc, actor, "S01").code

    if args.http:
        step = _asgi_step(create_app_for(settings, edc), token, code)
    else:
        state: list[int | None] = [None]

        def credentials() -> Any:
            # as the API's form routes do: the token checked inside the use case's transaction when the
            # services can (BearerToken), else with a transaction of its own (the code before that change)
            if BearerToken is not None:
                return BearerToken(token, "profile")
            return authenticate(edc, token, "profile")

        def step(n: int) -> None:
            who = credentials()
            base = state[0]
            view = data.save_form(
                edc,
                who,
                code,
                "LOAD",
                "VITALS",
                {"WEIGHT": 60 + n % 30, "NOTE": f"entry {n}"},
                base_version=base,
                reason=None if base is None else "profile correction",
            )
            state[0] = view.version
            data.get_form(edc, credentials(), view.id)

    for n in range(20):  # warm up
        step(n)
    profiler = cProfile.Profile() if args.profile else None
    if args.callgrind_toggle:
        _callgrind("on")
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for n in range(20, 20 + args.n):
        step(n)
    if profiler:
        profiler.disable()
    if args.callgrind_toggle:
        _callgrind("off")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        f"{'http' if args.http else 'services'} {url.split(':')[0]}: {elapsed / args.n * 1000:.2f} ms wall, "
        f"{cpu / args.n * 1000:.2f} ms CPU per save+read"
    )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PSORT", "cumulative")).print_stats(80)
        print(out.getvalue())
    edc.engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


def _callgrind(state: str) -> None:
    """Switch callgrind's instrumentation of this process on or off (returns once it has taken effect)."""
    subprocess.run(
        ["callgrind_control", "--instr=" + state, str(os.getpid())], check=True, capture_output=True
    )


def count_instructions(n: int, arguments: list[str]) -> None:
    """Run this script under callgrind, instrumented only while it times its ``n`` iterations, and print the
    instructions per save+read."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                *arguments,
                "--callgrind-toggle",
            ],
            check=True,
            capture_output=True,
        )
        totals = subprocess.run(["callgrind_annotate", str(out)], check=True, capture_output=True, text=True)
    line = next(line for line in totals.stdout.splitlines() if "PROGRAM TOTALS" in line)
    instructions = int(line.split()[0].replace(",", ""))
    print(f"{instructions / n / 1e6:.3f} million instructions per save+read ({n} pairs, callgrind)")


if __name__ == "__main__":
    main()
