"""The form read's connection without the ORM session (``_context.read_connection``): the same answers and
errors as every use case, and its connection handed back to the pool whatever happens."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from edc_fixtures import edc_settings
from oligotrial.errors import AuthenticationError, NotFoundError, ServiceUnavailableError
from oligotrial.services import data
from oligotrial.services._context import Edc, read_connection
from oligotrial.services.auth import BearerToken

INV, MON = "investigator.cn01", "monitor.cn02"


def test_a_form_read_hands_its_connection_back_after_an_answer_or_an_error(world):
    inv = world.actor(INV)
    subject = data.create_subject(world.edc, inv, "CN01").code
    form = data.save_form(world.edc, inv, subject, "SCREENING", "DM", {"AGE": 64, "SEX": "M"})
    pool = world.edc.engine.pool
    before = pool.checkedout()
    token = BearerToken(world.tokens[INV], "test")
    assert data.get_form(world.edc, token, form.id) == form
    with pytest.raises(NotFoundError):
        data.get_form(world.edc, token, form.id + 1000)
    with pytest.raises(AuthenticationError):
        data.get_form(world.edc, BearerToken("not-a-token", "test"), form.id)
    assert pool.checkedout() == before


def test_a_form_of_another_site_reads_as_absent(world):
    inv = world.actor(INV)
    subject = data.create_subject(world.edc, inv, "CN01").code
    form = data.save_form(world.edc, inv, subject, "SCREENING", "DM", {"AGE": 64, "SEX": "M"})
    with pytest.raises(NotFoundError) as other_site:
        data.get_form(world.edc, BearerToken(world.tokens[MON], "test"), form.id)
    with pytest.raises(NotFoundError) as absent:
        data.get_form(world.edc, BearerToken(world.tokens[MON], "test"), form.id + 1000)
    assert other_site.value.problems[0].code == absent.value.problems[0].code == "EDC-020"


def test_a_form_read_without_its_database_is_503(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'missing' / 'trial.db'}")  # its folder does not exist
    edc = Edc(engine, edc_settings(str(engine.url)))
    with pytest.raises(ServiceUnavailableError) as refused:
        data.get_form(edc, BearerToken("any-token", "test"), 1)
    assert refused.value.problems[0].code == "DB-001"
    assert engine.pool.checkedout() == 0


def test_inside_another_use_case_the_read_is_in_its_transaction(world):
    """A context on a connection (an ODM import's) reads inside its owner's transaction: what the owner has
    written and not committed."""
    inv = world.actor(INV)
    subject = data.create_subject(world.edc, inv, "CN01").code
    form = data.save_form(world.edc, inv, subject, "SCREENING", "DM", {"AGE": 64, "SEX": "M"})
    with world.edc.engine.connect() as connection:
        connection.execute(text("UPDATE forms SET status = 'incomplete' WHERE id = :id"), {"id": form.id})
        scoped = Edc(connection, world.edc.settings)  # type: ignore[arg-type]
        with read_connection(scoped) as inner:
            assert inner is connection
        assert data.get_form(scoped, inv, form.id).status == "incomplete"
        connection.rollback()
    assert data.get_form(world.edc, inv, form.id).status == "complete"
