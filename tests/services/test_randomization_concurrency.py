"""Must show (issue 7): 200 randomizations from 50 parallel clients, on SQLite and on PostgreSQL. No slot is
used twice, no subject is randomized twice, each stratum's list is used in order, and every retry (same
request id) is answered with the same arm."""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.errors import ServiceUnavailableError
from oligotrial.services import data
from oligotrial.services import randomization as rnd
from oligotrial.services.audit_trail import verify_audit
from oligotrial.store.tables import RandomizationEntry, RandomizationRecord

SUBJECTS = 200
CLIENTS = 50
RESPONSES = ["CR", "PR", "SD", "NON-CR/NON-PD"]


def _call(edc, actor, code, covariates, request_id):
    for _ in range(20):  # a client retries on 503 (database busy), as the API tells it to
        try:
            return rnd.randomize_subject(edc, actor, code, request_id=request_id, **covariates)
        except ServiceUnavailableError:
            continue
    raise AssertionError("database stayed busy")


def test_parallel_clients_never_share_a_slot_and_retries_get_the_same_arm(world):
    edc = world.edc
    rnd.generate_randomization_list(edc, world.actor("statistician"), entries_per_stratum=60, seed=11)
    jobs = []
    for i in range(SUBJECTS):
        site = "CN01" if i % 2 == 0 else "CN02"
        inv = world.actor(f"investigator.{site.lower()}")
        code = data.create_subject(edc, inv, site).code
        data.update_subject_status(edc, inv, code, "enrolled", 1, "eligible")
        covariates = {"induction_response": RESPONSES[i % 4], "metastatic_organ_count": 1 + i % 3}
        jobs.append((inv, code, covariates, f"req-{code}"))

    def client(batch):
        answers = []
        for inv, code, covariates, request_id in batch:
            first = _call(edc, inv, code, covariates, request_id)
            retry = _call(edc, inv, code, covariates, request_id)  # e.g. the response was lost
            answers.append((code, first, retry))
        return answers

    batches = [jobs[i::CLIENTS] for i in range(CLIENTS)]
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = [a for batch in pool.map(client, batches) for a in batch]

    assert len(answers) == SUBJECTS
    for code, first, retry in answers:
        assert not first.is_replay and retry.is_replay, code
        assert retry.arm == first.arm and retry.sequence == first.sequence, code
    with Session(edc.engine) as session:
        records = session.execute(select(RandomizationRecord)).scalars().all()
        used = (
            session.execute(select(RandomizationEntry).where(RandomizationEntry.subject_id.is_not(None)))
            .scalars()
            .all()
        )
    assert len(records) == SUBJECTS == len({r.subject_id for r in records})
    assert len(used) == SUBJECTS == len({e.id for e in used}) == len({r.entry_id for r in records})
    assert sorted(r.sequence for r in records) == list(range(1, SUBJECTS + 1))
    by_stratum = defaultdict(list)
    for r in sorted(records, key=lambda r: r.sequence):
        by_stratum[r.stratum].append(r.list_position)
    for stratum, positions in by_stratum.items():
        assert positions == list(range(1, len(positions) + 1)), stratum  # list order respected
    arm_of_entry = {e.id: e.arm for e in used}
    assert all(arm_of_entry[r.entry_id] == r.arm for r in records)
    assert verify_audit(edc).is_intact
