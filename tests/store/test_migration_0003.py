"""Migration 0003 (users.language, sites.time_zone): an existing 0002 database is upgraded in place with all
its rows kept and the documented defaults filled in, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import text

from edc_fixtures import ADMIN, ADMIN_PASSWORD, PASSWORD, build_world, edc_settings
from oligotrial.errors import ConfigurationError
from oligotrial.protocol import load_protocol
from oligotrial.services import data, init_database, open_edc
from oligotrial.services.audit_trail import verify_audit
from oligotrial.services.auth import login
from oligotrial.store import create_engine, upgrade_database
from oligotrial.store.migrate import _config, current_revision, head_revision

CREATED = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def _columns(engine, table: str) -> set[str]:
    from sqlalchemy import inspect

    return {c["name"] for c in inspect(engine).get_columns(table)}


def test_head_revision_is_0003_and_cached():
    assert head_revision() == "0003"
    assert head_revision.cache_info().currsize == 1
    assert head_revision() == "0003"


def test_upgrade_from_0002_keeps_rows_and_fills_the_defaults(empty_database_url):
    engine = create_engine(empty_database_url)
    upgrade_database(engine, "0002")
    assert current_revision(engine) == "0002"
    assert "language" not in _columns(engine, "users")
    assert "time_zone" not in _columns(engine, "sites")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sites (id, code, name, is_active, next_subject_seq, created_at) "
                "VALUES (7, 'CN07', 'Site seven', :t, 3, :at)"
            ),
            {"t": True, "at": CREATED if engine.dialect.name == "postgresql" else "2025-03-04 05:06:07"},
        )
        connection.execute(
            text(
                "INSERT INTO users (id, username, full_name, email, password_hash, is_active, failed_logins, "
                "password_changed_at, created_at) VALUES (11, 'li.wei', 'Li Wei', 'li@example.org', 'h', :t, 2, "
                ":at, :at)"
            ),
            {"t": True, "at": CREATED if engine.dialect.name == "postgresql" else "2025-03-04 05:06:07"},
        )
        connection.execute(
            text(
                "INSERT INTO role_assignments (id, user_id, role, site_id, created_at) "
                "VALUES (5, 11, 'investigator', 7, :at)"
            ),
            {"at": CREATED if engine.dialect.name == "postgresql" else "2025-03-04 05:06:07"},
        )
    upgrade_database(engine)
    assert current_revision(engine) == "0003"
    with engine.connect() as connection:
        site = connection.execute(
            text("SELECT code, name, next_subject_seq, time_zone FROM sites WHERE id = 7")
        ).one()
        user = connection.execute(
            text("SELECT username, full_name, email, failed_logins, language FROM users WHERE id = 11")
        ).one()
        role = connection.execute(text("SELECT user_id, role, site_id FROM role_assignments")).all()
    assert tuple(site) == ("CN07", "Site seven", 3, "Asia/Shanghai")
    assert tuple(user) == ("li.wei", "Li Wei", "li@example.org", 2, "en")
    assert [tuple(r) for r in role] == [(11, "investigator", 7)]
    engine.dispose()


def test_a_working_database_goes_down_to_0002_and_back_without_losing_anything(database_url):
    edc = open_edc(edc_settings(database_url))
    world = build_world(edc)
    data.create_subject(edc, world.actor("researchcoordinator.cn01"), "CN01")
    with edc.engine.connect() as connection:
        before = {
            table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
            for table in ("users", "sites", "role_assignments", "tokens", "subjects", "audit_log")
        }
    edc.engine.dispose()

    engine = create_engine(database_url)
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0002")
    assert current_revision(engine) == "0002"
    with pytest.raises(ConfigurationError) as refused:
        open_edc(edc_settings(database_url))
    assert refused.value.problems[0].code == "CONF-012"
    engine.dispose()

    # the operator's upgrade path: `oligotrial init` on the existing database
    init_database(edc_settings(database_url), load_protocol(), ADMIN, ADMIN_PASSWORD, source="test")
    edc = open_edc(edc_settings(database_url))
    with edc.engine.connect() as connection:
        after = {
            table: connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() for table in before
        }
        languages = set(connection.execute(text("SELECT language FROM users")).scalars())
        zones = set(connection.execute(text("SELECT time_zone FROM sites")).scalars())
    assert after == before
    assert languages == {"en"} and zones == {"Asia/Shanghai"}
    assert login(edc, "investigator.cn01", PASSWORD, "test").access_token
    assert verify_audit(edc).is_intact
    edc.engine.dispose()
