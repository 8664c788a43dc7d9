"""The ``/api/v1`` routes: each parses its input, calls one use case and returns its view. No queries, no
authorization logic: both live in :mod:`oligotrial.services`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response, status

from oligotrial.api.deps import (
    CurrentActor,
    CurrentCredentials,
    CurrentEdc,
    bearer_token,
    client_source,
    in_thread,
    view_response,
)
from oligotrial.api.schemas import (
    MAX_INT32,
    MAX_INT64,
    AssignRole,
    ChangePassword,
    CreateSite,
    CreateSubject,
    CreateUser,
    QueryStep,
    RaiseQuery,
    Reason,
    SaveForm,
    SignRecords,
    SubjectStatus,
    VerifyForm,
    VerifyForms,
)
from oligotrial.services import Edc, Role, admin, audit_trail, auth, data, queries, reports, signatures
from oligotrial.services.auth import BearerToken
from oligotrial.services.database import check_health
from oligotrial.services.views import (
    AuditPage,
    CasebookProgress,
    EnrollmentReport,
    FormVersionView,
    FormView,
    QueryCounts,
    QueryView,
    SignatureView,
    SiteView,
    SubjectView,
    TokenIssued,
    UserView,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_INT64)]
RecordId = Annotated[int, Path(ge=1, le=MAX_INT32)]


# -- forms: the busiest routes, declared first (a request's route is found by trying the routes in order) --
@router.put("/subjects/{code}/forms/{event_code}/{form_code}", response_model=FormView, tags=["forms"])
async def put_form(
    edc: CurrentEdc, who: CurrentCredentials, code: str, event_code: str, form_code: str, body: SaveForm
) -> Response:
    """Enter or change a form's item values (a change needs ``base_version`` and a reason)."""
    return view_response(await in_thread(save_form, edc, who, code, event_code, form_code, body))


def save_form(
    edc: Edc, who: BearerToken, code: str, event_code: str, form_code: str, body: SaveForm
) -> FormView:
    """The form save use case on a request's body (this route's and :mod:`oligotrial.api._hot_routes`')."""
    return data.save_form(
        edc,
        who,
        code,
        event_code,
        form_code,
        body.values,
        base_version=body.base_version,
        reason=body.reason,
        event_date=body.event_date,
        status=body.status,
    )


@router.get("/forms/{form_id}", response_model=FormView, tags=["forms"])
async def get_form(edc: CurrentEdc, who: CurrentCredentials, form_id: RecordId) -> Response:
    """One form with its current values."""
    return view_response(await in_thread(data.get_form, edc, who, form_id))


# -- auth ---------------------------------------------------------------------------------------------------
@router.post("/auth/token", response_model=TokenIssued, tags=["auth"])
def issue_token(
    request: Request,
    edc: CurrentEdc,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=256)],
) -> TokenIssued:
    """OAuth2 password flow: exchange user name and password for a bearer token with an expiry."""
    return auth.login(edc, username, password, client_source(request))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def revoke_token(
    edc: CurrentEdc, actor: CurrentActor, token: Annotated[str, Depends(bearer_token)]
) -> Response:
    """Revoke the bearer token used for this request."""
    auth.logout(edc, token, actor)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/auth/me", response_model=UserView, tags=["auth"])
def who_am_i(edc: CurrentEdc, actor: CurrentActor) -> UserView:
    """The authenticated user and their roles."""
    return admin.get_user(edc, actor, actor.username)


@router.post("/auth/password", status_code=status.HTTP_204_NO_CONTENT, tags=["auth"])
def change_own_password(edc: CurrentEdc, actor: CurrentActor, body: ChangePassword) -> Response:
    """Change your password (re-enter the current one); every token of yours is revoked."""
    auth.change_password(edc, actor, body.current_password, body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/health", tags=["operations"])
def health(edc: CurrentEdc) -> dict[str, Any]:
    """Whether this server process reaches the database (no authentication)."""
    return check_health(edc)


# -- sites and users ----------------------------------------------------------------------------------------
@router.get("/sites", response_model=list[SiteView], tags=["sites"])
def get_sites(edc: CurrentEdc, actor: CurrentActor) -> list[SiteView]:
    """The sites you work at (all sites for study-wide roles)."""
    return admin.list_sites(edc, actor)


@router.post("/sites", response_model=SiteView, status_code=status.HTTP_201_CREATED, tags=["sites"])
def post_site(edc: CurrentEdc, actor: CurrentActor, body: CreateSite) -> SiteView:
    """Register a site (administrators)."""
    return admin.create_site(edc, actor, body.code, body.name)


@router.get("/users", response_model=list[UserView], tags=["users"])
def get_users(edc: CurrentEdc, actor: CurrentActor) -> list[UserView]:
    """Every account with its roles (administrators)."""
    return admin.list_users(edc, actor)


@router.post("/users", response_model=UserView, status_code=status.HTTP_201_CREATED, tags=["users"])
def post_user(edc: CurrentEdc, actor: CurrentActor, body: CreateUser) -> UserView:
    """Create an account with roles (administrators)."""
    roles = [(Role(r.role), r.site) for r in body.roles]
    return admin.create_user(edc, actor, body.username, body.password, body.full_name, body.email, roles)


@router.get("/users/{username}", response_model=UserView, tags=["users"])
def get_one_user(edc: CurrentEdc, actor: CurrentActor, username: str) -> UserView:
    """One account (administrators; anyone for themselves)."""
    return admin.get_user(edc, actor, username)


@router.post("/users/{username}/disable", response_model=UserView, tags=["users"])
def post_disable_user(edc: CurrentEdc, actor: CurrentActor, username: str, body: Reason) -> UserView:
    """Disable an account and revoke its tokens (administrators)."""
    return admin.disable_user(edc, actor, username, body.reason)


@router.post(
    "/users/{username}/roles", response_model=UserView, status_code=status.HTTP_201_CREATED, tags=["users"]
)
def post_role(edc: CurrentEdc, actor: CurrentActor, username: str, body: AssignRole) -> UserView:
    """Grant a role at a site or study-wide (administrators)."""
    return admin.assign_role(edc, actor, username, Role(body.role), body.site)


@router.post("/users/{username}/roles/{assignment_id}/revoke", response_model=UserView, tags=["users"])
def post_revoke_role(
    edc: CurrentEdc, actor: CurrentActor, username: str, assignment_id: RecordId, body: Reason
) -> UserView:
    """Withdraw a role assignment (administrators)."""
    return admin.revoke_role(edc, actor, username, assignment_id, body.reason)


# -- subjects and forms -------------------------------------------------------------------------------------
@router.get("/subjects", tags=["subjects"])
def get_subjects(
    edc: CurrentEdc,
    actor: CurrentActor,
    site: str | None = None,
    subject_status: Annotated[str | None, Query(alias="status")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Subjects of your sites, with the total count."""
    items, total = data.list_subjects(
        edc, actor, site_code=site, status=subject_status, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.post("/subjects", response_model=SubjectView, status_code=status.HTTP_201_CREATED, tags=["subjects"])
def post_subject(edc: CurrentEdc, actor: CurrentActor, body: CreateSubject) -> SubjectView:
    """Register a subject at one of your sites."""
    return data.create_subject(edc, actor, body.site)


@router.get("/subjects/{code}", response_model=SubjectView, tags=["subjects"])
def get_subject(edc: CurrentEdc, actor: CurrentActor, code: str) -> SubjectView:
    """One subject of your sites."""
    return data.get_subject(edc, actor, code)


@router.post("/subjects/{code}/status", response_model=SubjectView, tags=["subjects"])
def post_subject_status(edc: CurrentEdc, actor: CurrentActor, code: str, body: SubjectStatus) -> SubjectView:
    """Change a subject's status (reason required)."""
    return data.update_subject_status(edc, actor, code, body.status, body.base_version, body.reason)


@router.get("/subjects/{code}/forms", response_model=list[FormView], tags=["forms"])
def get_subject_forms(edc: CurrentEdc, actor: CurrentActor, code: str) -> list[FormView]:
    """All forms of a subject."""
    return data.list_forms(edc, actor, code)


@router.get("/forms/{form_id}/history", response_model=list[FormVersionView], tags=["forms"])
def get_form_history(edc: CurrentEdc, actor: CurrentActor, form_id: RecordId) -> list[FormVersionView]:
    """Every version of a form: values, who, when, why."""
    return data.get_form_history(edc, actor, form_id)


@router.post("/forms/{form_id}/lock", response_model=FormView, tags=["forms"])
def post_lock(edc: CurrentEdc, actor: CurrentActor, form_id: RecordId) -> FormView:
    """Lock a form (data managers)."""
    return data.lock_form(edc, actor, form_id)


@router.post("/forms/{form_id}/unlock", response_model=FormView, tags=["forms"])
def post_unlock(edc: CurrentEdc, actor: CurrentActor, form_id: RecordId, body: Reason) -> FormView:
    """Unlock a form (data managers; reason required)."""
    return data.unlock_form(edc, actor, form_id, body.reason)


@router.get("/casebooks", response_model=list[CasebookProgress], tags=["forms"])
def get_casebook_progress(
    edc: CurrentEdc, actor: CurrentActor, site: str | None = None
) -> list[CasebookProgress]:
    """Per subject of your sites: forms entered, verified at their current version and locked, and queries
    open or answered."""
    return data.list_casebook_progress(edc, actor, site_code=site)


@router.post("/subjects/{code}/lock", response_model=list[FormView], tags=["forms"])
def post_casebook_lock(edc: CurrentEdc, actor: CurrentActor, code: str) -> list[FormView]:
    """Lock every form of a subject (data managers); 409 while a query on it is open or answered."""
    return data.lock_casebook(edc, actor, code)


@router.post("/subjects/{code}/unlock", response_model=list[FormView], tags=["forms"])
def post_casebook_unlock(edc: CurrentEdc, actor: CurrentActor, code: str, body: Reason) -> list[FormView]:
    """Unlock every form of a subject (data managers; reason required)."""
    return data.unlock_casebook(edc, actor, code, body.reason)


@router.get("/verification", tags=["forms"])
def get_forms_to_verify(
    edc: CurrentEdc,
    actor: CurrentActor,
    site: str | None = None,
    subject: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Forms awaiting source-data verification at your sites (never verified, or changed since), with the
    total count (monitors)."""
    items, total = data.list_forms_to_verify(
        edc, actor, site_code=site, subject_code=subject, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.post("/verification", response_model=list[FormView], tags=["forms"])
def post_verification(edc: CurrentEdc, actor: CurrentActor, body: VerifyForms) -> list[FormView]:
    """Record source-data verification of several forms at once, each at the version compared with the
    source: all or none (409 naming the form changed since)."""
    return data.verify_forms(edc, actor, {f.form_id: f.version for f in body.forms})


@router.post("/forms/{form_id}/verify", response_model=FormView, tags=["forms"])
def post_verify(edc: CurrentEdc, actor: CurrentActor, form_id: RecordId, body: VerifyForm) -> FormView:
    """Record source-data verification of a form version (monitors)."""
    return data.verify_form(edc, actor, form_id, body.version)


# -- queries ------------------------------------------------------------------------------------------------
@router.post(
    "/forms/{form_id}/queries",
    response_model=QueryView,
    status_code=status.HTTP_201_CREATED,
    tags=["queries"],
)
def post_query(edc: CurrentEdc, actor: CurrentActor, form_id: RecordId, body: RaiseQuery) -> QueryView:
    """Raise a query on an item (monitors, data managers)."""
    return queries.raise_query(edc, actor, form_id, body.item, body.text)


@router.get("/queries", tags=["queries"])
def get_queries(
    edc: CurrentEdc,
    actor: CurrentActor,
    state: str | None = None,
    site: str | None = None,
    subject: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Queries of your sites, with the total count."""
    items, total = queries.list_queries(
        edc, actor, state=state, site_code=site, subject_code=subject, limit=limit, offset=offset
    )
    return {"items": items, "total": total}


@router.get("/queries/counts", response_model=list[QueryCounts], tags=["queries"])
def get_query_counts(edc: CurrentEdc, actor: CurrentActor) -> list[QueryCounts]:
    """Open, answered and closed queries per site."""
    return queries.count_queries(edc, actor)


@router.get("/queries/{query_id}", response_model=QueryView, tags=["queries"])
def get_query(edc: CurrentEdc, actor: CurrentActor, query_id: RecordId) -> QueryView:
    """One query with its history."""
    return queries.get_query(edc, actor, query_id)


@router.post("/queries/{query_id}/answer", response_model=QueryView, tags=["queries"])
def post_answer(edc: CurrentEdc, actor: CurrentActor, query_id: RecordId, body: QueryStep) -> QueryView:
    """Answer a query (site staff)."""
    return queries.answer_query(edc, actor, query_id, body.text)


@router.post("/queries/{query_id}/close", response_model=QueryView, tags=["queries"])
def post_close(edc: CurrentEdc, actor: CurrentActor, query_id: RecordId, body: QueryStep) -> QueryView:
    """Close a query (monitors, data managers)."""
    return queries.close_query(edc, actor, query_id, body.text)


@router.post("/queries/{query_id}/reopen", response_model=QueryView, tags=["queries"])
def post_reopen(edc: CurrentEdc, actor: CurrentActor, query_id: RecordId, body: QueryStep) -> QueryView:
    """Re-open a query (monitors, data managers)."""
    return queries.reopen_query(edc, actor, query_id, body.text)


# -- signatures, audit, reports -----------------------------------------------------------------------------
@router.post(
    "/subjects/{code}/signatures",
    response_model=SignatureView,
    status_code=status.HTTP_201_CREATED,
    tags=["signatures"],
)
def post_signature(edc: CurrentEdc, actor: CurrentActor, code: str, body: SignRecords) -> SignatureView:
    """Sign a form or the casebook (investigators; re-enter your password, state the meaning)."""
    return signatures.sign(edc, actor, code, body.password, body.meaning, body.form_id)


@router.get("/subjects/{code}/signatures", response_model=list[SignatureView], tags=["signatures"])
def get_signatures(edc: CurrentEdc, actor: CurrentActor, code: str) -> list[SignatureView]:
    """A subject's signatures, each valid or invalidated by a later change."""
    return signatures.list_signatures(edc, actor, code)


@router.get("/audit", response_model=AuditPage, tags=["audit"])
def get_audit(
    edc: CurrentEdc,
    actor: CurrentActor,
    table: str | None = None,
    record_id: str | None = None,
    subject: str | None = None,
    after: Offset = 0,
    before: Annotated[int | None, Query(ge=0, le=MAX_INT64)] = None,
    limit: Limit = 100,
) -> AuditPage:
    """Audit entries in chain order after ``after``, or newest first before ``before`` (0: from the newest);
    ``subject`` keeps the entries about one subject's records (read only: nothing in the API changes the
    audit trail)."""
    return audit_trail.read_audit(
        edc,
        actor,
        table=table,
        record_id=record_id,
        subject=subject,
        after=after,
        before=before,
        limit=limit,
    )


@router.get("/reports/enrollment", response_model=list[EnrollmentReport], tags=["reports"])
def get_enrollment(edc: CurrentEdc, actor: CurrentActor) -> list[EnrollmentReport]:
    """Subjects per site and status (aggregate; DSMB members included)."""
    return reports.enrollment_report(edc, actor)
