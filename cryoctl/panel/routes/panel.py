"""``/api/v1/panel``: what the touch panel's page needs to know about itself.

``GET`` answers the remembered language, the languages there are, how long an
unused sign-in lasts (the page locks itself after that) and whether staff may
override a clinic rule. ``PUT /api/v1/panel/language`` remembers the language
chosen on the panel (open like ``/status``: the locked screen offers it too).
Nothing here touches the control process.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from cryoctl.config import Language
from cryoctl.panel.routes.common import State
from cryoctl.panel.state import API_PREFIX

__all__ = ["router"]

router = APIRouter(prefix=API_PREFIX, tags=["panel"])


class PanelInfo(BaseModel):
    language: Language
    languages: list[Language]
    #: The page locks itself after this long without a touch.
    idle_lock_s: int
    staff_may_override: bool


class LanguageBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Language


@router.get("/panel", summary="The touch panel's settings", response_model=PanelInfo)
async def panel_info(state: State) -> PanelInfo:
    auth = state.config.auth
    return PanelInfo(language=await run_in_threadpool(state.settings.language),
                     languages=list(Language), idle_lock_s=auth.token_idle_s,
                     staff_may_override=auth.staff_may_override)


@router.put("/panel/language", summary="Remember the panel's language",
            response_model=LanguageBody,
            responses={507: {"description": "The settings file cannot be written"}})
async def set_language(body: LanguageBody, state: State) -> LanguageBody:
    try:
        await run_in_threadpool(state.settings.set_language, body.language)
    except OSError as exc:
        raise HTTPException(status_code=507, detail=f"cannot write {state.settings.path}: "
                            f"{exc.strerror or type(exc).__name__}") from None
    return body
