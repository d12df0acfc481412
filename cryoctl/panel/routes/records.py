"""``/api/v1/sessions`` and ``/api/v1/patients``: the session records, read through the socket.

The records live in the control process; every answer here is one of its socket
requests (``sessions``, ``session``, ``course``), passed on as it came. The report
is rendered here, from the session's JSON, in the language asked for (``?lang=``)
or the config's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.responses import HTMLResponse

from cryoctl.panel.auth import StaffGrant
from cryoctl.panel.report import render_report
from cryoctl.panel.routes.common import REFUSED, State
from cryoctl.panel.state import API_PREFIX, ask

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["records"])

_Ref = Annotated[str, Path(min_length=1, max_length=64)]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    **{k: v for k, v in REFUSED.items() if k != 409},
    404: {"description": "No such session (or profile) in the records"},
}


async def _records(state: State, kind: str, **fields: Any) -> dict[str, Any] | None:
    answer = await ask(state, kind, "records", lambda: state.link.records(kind, **fields))
    if not answer.get("ok"):
        raise HTTPException(status_code=400, detail=str(answer.get("reason") or "refused"))
    data = answer.get("data")
    return data if isinstance(data, dict) else None


@router.get("/sessions", summary="Session records, newest first (staff)", responses=_NOT_FOUND)
async def sessions(grant: StaffGrant, state: State,
                   patient: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
                   since: Annotated[str | None, Query(max_length=40,
                                                      description="UTC date or time")] = None,
                   limit: Annotated[int, Query(ge=1, le=100)] = 100) -> dict[str, Any]:
    data = await _records(state, "sessions", patient=patient, since=since, limit=limit)
    return data if data is not None else {"sessions": []}


async def _session(state: State, session_id: str) -> dict[str, Any]:
    data = await _records(state, "session", session_id=session_id)
    if data is None:
        raise HTTPException(status_code=404, detail=f"no session {session_id} in the records")
    return data


@router.get("/sessions/{session_id}", summary="One session in full (staff)",
            responses=_NOT_FOUND)
async def session(session_id: _Ref, grant: StaffGrant, state: State) -> dict[str, Any]:
    return await _session(state, session_id)


@router.get("/sessions/{session_id}/report", summary="The treatment report, one A4 page (staff)",
            response_class=HTMLResponse, responses=_NOT_FOUND)
async def report(session_id: _Ref, grant: StaffGrant, state: State,
                 lang: Literal["en", "ru"] | None = None) -> HTMLResponse:
    data = await _session(state, session_id)
    language = lang or state.config.panel.language.value
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    return HTMLResponse(render_report(data, lang=language, generated_utc=generated))


@router.get("/patients/{patient_ref}/course", summary="A patient's course of one profile (staff)",
            responses=_NOT_FOUND)
async def course(patient_ref: _Ref, grant: StaffGrant, state: State,
                 profile: Annotated[str, Query(min_length=1, max_length=64)]) -> dict[str, Any]:
    answer = await ask(state, "course", "records", lambda: state.link.records(
        "course", patient_ref=patient_ref, profile=profile))
    if not answer.get("ok"):
        raise HTTPException(status_code=404, detail=str(answer.get("reason") or "refused"))
    data = answer.get("data")
    return data if isinstance(data, dict) else {}
