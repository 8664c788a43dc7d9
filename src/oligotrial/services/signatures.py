"""Electronic signatures (21 CFR 11.50, 11.70, 11.200): an investigator signs a form or a subject's casebook
by re-entering their password and stating the meaning; the signature is bound to the exact record versions.

Notes
-----
The manifest lists every signed record with its version and content hash (a form's hash covers its item
values; the casebook adds the subject record and every form of the subject). The signature stores the
manifest and its SHA-256 together with signer, meaning and time (11.70: linked to the records, not
copyable to others). On every read the manifest is recomputed from the current records: any change, and for
a casebook any added form, shows the signature as ``invalidated`` with the records that changed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oligotrial.errors import AuthenticationError, InputError, NotFoundError, OligotrialError, Problem
from oligotrial.services._context import (
    Actor,
    Edc,
    Permission,
    read_transaction,
    write_audit,
    write_transaction,
)
from oligotrial.services.auth import verify_user_password
from oligotrial.services.data import load_subject
from oligotrial.services.views import SignatureView, SignedRecord
from oligotrial.store.audit import canonical_json
from oligotrial.store.tables import Form, Signature, Subject, User

__all__ = ["SIGNATURE_MEANINGS", "list_signatures", "sign"]

SIGNATURE_MEANINGS = {
    "authorship": "I am the author of the data recorded in these records.",
    "review": "I have reviewed the data recorded in these records.",
    "approval": "I approve the data recorded in these records as accurate and complete.",
    "responsibility": "I take responsibility for the data recorded in these records.",
}
"""The meanings a signature may carry (11.50(a)(3)), with the text shown with it."""


def _manifest(session: Session, subject: Subject, form_id: int | None) -> list[dict[str, Any]]:
    stmt = select(Form).where(Form.subject_id == subject.id).order_by(Form.id)
    if form_id is not None:
        stmt = stmt.where(Form.id == form_id)
    records = [
        {"record": "form", "id": f.id, "version": f.version, "content_hash": f.content_hash}
        for f in session.execute(stmt).scalars()
    ]
    if form_id is None:
        subject_hash = hashlib.sha256(
            canonical_json(
                {"subject": subject.code, "status": subject.status, "version": subject.version}
            ).encode()
        ).hexdigest()
        records.insert(
            0,
            {"record": "subject", "id": subject.id, "version": subject.version, "content_hash": subject_hash},
        )
    return records


def _view(session: Session, sig: Signature, subject: Subject, username: str) -> SignatureView:
    signed = sig.manifest["records"]
    current = {(r["record"], r["id"]): r for r in _manifest(session, subject, sig.form_id)}
    changed = []
    for record in signed:
        now = current.pop((record["record"], record["id"]), None)
        if (
            now is None
            or now["content_hash"] != record["content_hash"]
            or now["version"] != record["version"]
        ):
            changed.append(f"{record['record']} {record['id']}")
    changed.extend(f"{kind} {rid} (added after signing)" for kind, rid in current)
    return SignatureView(
        id=sig.id,
        subject=subject.code,
        form_id=sig.form_id,
        scope="form" if sig.form_id else "casebook",
        signer=username,
        signer_name=sig.signer_name,
        meaning=sig.meaning,
        meaning_text=SIGNATURE_MEANINGS[sig.meaning],
        signed_at=sig.signed_at,
        records=[SignedRecord(**r) for r in signed],
        manifest_hash=sig.manifest_hash,
        status="invalidated" if changed else "valid",
        changed_records=changed,
    )


def sign(
    edc: Edc, actor: Actor, subject_code: str, password: str, meaning: str, form_id: int | None = None
) -> SignatureView:
    """Sign a form (``form_id``) or the whole casebook of a subject.

    Raises
    ------
    InputError
        ``EDC-040`` unknown meaning; ``EDC-041`` nothing to sign.
    AuthenticationError
        ``AUTH-010`` the password is wrong (counts toward lockout).
    PermissionDeniedError
        The actor is not an investigator at the subject's site.
    """
    if meaning not in SIGNATURE_MEANINGS:
        raise InputError.single(
            "EDC-040", "meaning", f"expected one of {', '.join(SIGNATURE_MEANINGS)}", value=meaning
        )
    failure: OligotrialError | None = None
    with write_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        if form_id is not None:
            form = session.get(Form, form_id)
            if form is None or form.subject_id != subject.id:
                raise NotFoundError(
                    Problem("EDC-020", "form_id", "no such form for this subject", value=form_id)
                )
        actor.require(Permission.SIGN, subject.site_id)
        user = session.get(User, actor.user_id) if actor.user_id is not None else None
        if user is None or not verify_user_password(edc, session, user, password, actor):
            failure = AuthenticationError(
                Problem("AUTH-010", "password", "the password is wrong; the signature was not applied")
            )
        else:
            records = _manifest(session, subject, form_id)
            if not records or (form_id is None and len(records) == 1):
                raise InputError.single("EDC-041", "form_id", "there is no form to sign yet")
            now = datetime.now(UTC)
            bound = {
                "records": records,
                "signer": user.username,
                "meaning": meaning,
                "signed_at": now.isoformat(),
                "subject": subject.code,
            }
            sig = Signature(
                subject_id=subject.id,
                site_id=subject.site_id,
                form_id=form_id,
                signer_id=user.id,
                signer_name=user.full_name,
                meaning=meaning,
                signed_at=now,
                manifest={"records": records},
                manifest_hash=hashlib.sha256(canonical_json(bound).encode()).hexdigest(),
            )
            session.add(sig)
            session.flush()
            write_audit(
                session,
                actor,
                "create",
                "signatures",
                sig.id,
                site_id=subject.site_id,
                new={
                    "subject": subject.code,
                    "form_id": form_id,
                    "meaning": meaning,
                    "records": records,
                    "manifest_hash": sig.manifest_hash,
                },
            )
            return _view(session, sig, subject, user.username)
    assert failure is not None
    raise failure


def list_signatures(edc: Edc, actor: Actor, subject_code: str) -> list[SignatureView]:
    """The signatures of a subject's casebook and forms, each with its current validity."""
    with read_transaction(edc) as session:
        subject, _ = load_subject(session, actor, subject_code)
        rows = session.execute(
            select(Signature, User.username)
            .join(User, User.id == Signature.signer_id)
            .where(Signature.subject_id == subject.id)
            .order_by(Signature.id)
        ).all()
        return [_view(session, sig, subject, name) for sig, name in rows]
