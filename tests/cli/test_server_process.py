"""A server process's interpreter: tuned once its application is built (GIL hand-over interval, the
application's objects out of the cyclic collector's sight)."""

from __future__ import annotations

import gc
import sys

from oligotrial.cli import server


def test_a_worker_builds_its_application_then_freezes_it_out_of_the_collectors_sight(monkeypatch, tmp_path):
    monkeypatch.setenv("OLIGOTRIAL_ENV", "development")
    monkeypatch.setenv("OLIGOTRIAL_DATABASE_URL", f"sqlite:///{tmp_path / 'trial.db'}")
    from oligotrial.protocol import load_protocol
    from oligotrial.services import init_database
    from oligotrial.settings import load_settings

    init_database(load_settings(), load_protocol(), "admin", "a long enough pass phrase", source="test")
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        application = server.worker_application()
        # the application is in the permanent generation (which gc.get_objects leaves out), and the
        # collector still runs for what the requests allocate
        assert not any(tracked is application for tracked in gc.get_objects())
        assert gc.isenabled()
        assert gc.get_threshold()[0] == server._GC_YOUNG_THRESHOLD
        assert sys.getswitchinterval() == server._GIL_SWITCH_INTERVAL_SECONDS
        assert application.state.edc is not None
        application.state.edc.engine.dispose()
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)
