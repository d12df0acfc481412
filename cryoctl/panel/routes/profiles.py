"""``/api/v1/profiles``: the shipped and installed treatment profiles; technicians install.

An upload is the profile file's bytes (``text/plain`` or ``application/toml``),
checked by the same loader, rules and ceilings as ``cryoctl profile install`` and
written the same way (atomically, as ``NAME-vVERSION.toml`` in the data folder's
``profiles/``). A profile that breaks rules is 422 with every problem, each
naming its key; one whose name and version already mean other content is 409.

A signature (the ``NAME.toml.sig`` file's one line, ``ed25519:BASE64``) comes in
the ``X-Profile-Signature`` header. When the config requires signatures, an upload
without one, or with one that verifies under no trusted key, is 422 and nothing is
written; a signature that does not verify is refused whatever the config says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Header, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cryoctl.errors import ProfileError
from cryoctl.panel.auth import StaffGrant, TechnicianGrant
from cryoctl.panel.routes.common import REFUSED, State
from cryoctl.panel.state import API_PREFIX, audit
from cryoctl.profile import LoadedProfile, catalogue, parse_profile
from cryoctl.profile.signing import MAX_SIGNATURE_FILE_BYTES, SignaturePolicy
from cryoctl.profile.store import Installed, install_profile_bytes

__all__ = ["UPLOAD_SOURCE", "find_profile", "router"]

log = structlog.get_logger(__name__)

router = APIRouter(prefix=API_PREFIX, tags=["profiles"])

#: How an uploaded file is named in its problem lines.
UPLOAD_SOURCE = "upload"
_MEDIA_TYPES = ("text/plain", "application/toml")


class ProfileSummary(BaseModel):
    name: str
    version: int
    title: str
    device: str
    kind: str
    sha256: str
    source: Literal["shipped", "installed"]
    #: The file it was read from (shipped or installed).
    file: str
    zone_count: int
    requires_cold_test: bool
    checklist: list[str]
    #: Whether its signature verified under a trusted key (shipped ones are unsigned).
    signed: bool
    #: The trusted key's name and fingerprint, when signed.
    signer: str | None
    signer_fingerprint: str | None


class ProfileList(BaseModel):
    profiles: list[ProfileSummary]
    #: Installed files left out, one line each (broken, or a name and version taken).
    skipped: list[str]


class ProfileDetail(ProfileSummary):
    identity: str
    #: The whole profile, with the file's section names.
    profile: dict[str, Any]


class Rejected(BaseModel):
    detail: str
    #: One line per problem: ``upload:LINE: key.path: rule``.
    problems: list[str]


class InstallAnswer(BaseModel):
    outcome: Literal["installed", "unchanged"]
    name: str
    version: int
    sha256: str
    note: str = ""
    signed: bool = False
    signer: str | None = None
    signer_fingerprint: str | None = None


def _summary(loaded: LoadedProfile) -> dict[str, Any]:
    p = loaded.profile
    shipped = loaded.source.startswith("shipped:")
    return {
        "name": p.meta.name, "version": p.meta.version, "title": p.meta.title,
        "device": p.meta.device.value, "kind": p.meta.kind.value, "sha256": loaded.sha256,
        "source": "shipped" if shipped else "installed",
        "file": loaded.source.partition(":")[2] if shipped else Path(loaded.source).name,
        "zone_count": len(p.zones), "requires_cold_test": p.session.requires_cold_test,
        "checklist": list(p.session.checklist),
        "signed": loaded.signer is not None,
        "signer": None if loaded.signer is None else loaded.signer.key_name,
        "signer_fingerprint": None if loaded.signer is None else loaded.signer.fingerprint,
    }


def _policy(state: State) -> SignaturePolicy:
    return state.config.profiles.policy()


def find_profile(directory: Path, name: str, *, version: int | None = None,
                 sha256: str | None = None,
                 policy: SignaturePolicy | None = None) -> LoadedProfile | None:
    """A profile by name: the given version or content, else its highest version."""
    profiles, _ = catalogue(directory, policy)
    matches = [p for p in profiles if p.name == name
               and (version is None or p.version == version)
               and (sha256 is None or p.sha256 == sha256)]
    if not matches:
        return None
    return max(matches, key=lambda p: (p.version, p.source.startswith("shipped:")))


@router.get("/profiles", summary="Shipped and installed profiles", response_model=ProfileList,
            responses={k: REFUSED[k] for k in (401, 403)})
def list_profiles(grant: StaffGrant, state: State) -> ProfileList:
    profiles, skipped = catalogue(state.profile_dir, _policy(state))
    return ProfileList(profiles=[ProfileSummary(**_summary(p)) for p in profiles],
                       skipped=skipped)


@router.get("/profiles/{name}", summary="One profile in full", response_model=ProfileDetail,
            responses={**{k: REFUSED[k] for k in (401, 403)},
                       404: {"description": "No profile of that name (and version)"}})
def get_profile(name: str, grant: StaffGrant, state: State,
                version: Annotated[int | None, Query(ge=1)] = None) -> ProfileDetail:
    loaded = find_profile(state.profile_dir, name, version=version, policy=_policy(state))
    if loaded is None:
        which = name if version is None else f"{name} v{version}"
        raise HTTPException(status_code=404, detail=f"no profile {which}")
    return ProfileDetail(**_summary(loaded), identity=loaded.identity,
                         profile=loaded.profile.model_dump(mode="json", by_alias=True))


class _Invalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(problems)


class _Refused(Exception):
    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(problems)


def _install(data: bytes, signature: bytes | None, state: State) -> InstallAnswer:
    policy = _policy(state)
    try:
        policy.check(data, signature, source=UPLOAD_SOURCE)
    except ProfileError as exc:
        raise _Refused(exc.problems) from None
    try:
        parse_profile(data, source=UPLOAD_SOURCE)
    except ProfileError as exc:
        raise _Invalid(exc.problems) from None
    try:
        result = install_profile_bytes(data, state.profile_dir, source=UPLOAD_SOURCE,
                                       signature=signature, policy=policy)
    except ProfileError as exc:  # valid, but its name and version mean other content
        raise HTTPException(status_code=409, detail="; ".join(exc.problems)) from None
    except OSError as exc:
        log.error("profile_install_failed", error=exc.strerror or str(exc))
        raise HTTPException(status_code=507, detail="cannot write the profile store: "
                            f"{exc.strerror or type(exc).__name__}") from None
    loaded = result.loaded
    signer = loaded.signer
    return InstallAnswer(outcome="installed" if result.outcome is Installed.WRITTEN
                         else "unchanged", name=loaded.name, version=loaded.version,
                         sha256=loaded.sha256, note=result.note, signed=signer is not None,
                         signer=None if signer is None else signer.key_name,
                         signer_fingerprint=None if signer is None else signer.fingerprint)


@router.post(
    "/profiles",
    summary="Install a profile (technician)",
    status_code=201,
    response_model=InstallAnswer,
    openapi_extra={"requestBody": {"required": True, "content": {
        media: {"schema": {"type": "string", "description": "The profile file (TOML)"}}
        for media in _MEDIA_TYPES}}},
    responses={**{k: REFUSED[k] for k in (401, 403)},
               200: {"description": "Already installed or shipped with the same content"},
               409: {"description": "That name and version already mean other content"},
               415: {"description": "Not text/plain or application/toml"},
               422: {"model": Rejected,
                     "description": "The profile breaks rules (every problem, naming its "
                                    "key), or its signature is missing or refused"}},
)
async def install(
    request: Request, response: Response, grant: TechnicianGrant, state: State,
    x_profile_signature: Annotated[str | None, Header(
        max_length=MAX_SIGNATURE_FILE_BYTES,
        description="The detached signature (the .sig file's line, ed25519:BASE64)")] = None,
) -> InstallAnswer | JSONResponse:
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media not in _MEDIA_TYPES:
        raise HTTPException(status_code=415,
                            detail=f"send the profile as {' or '.join(_MEDIA_TYPES)}")
    data = await request.body()
    signature = None if x_profile_signature is None else x_profile_signature.encode(
        "ascii", "replace")
    try:
        answer = await run_in_threadpool(_install, data, signature, state)
    except _Refused as exc:
        log.warning("profile_signature_refused", problems=exc.problems, role=grant.role.value)
        return JSONResponse(status_code=422, content={
            "detail": "the profile's signature is refused", "problems": exc.problems})
    except _Invalid as exc:
        count = len(exc.problems)
        return JSONResponse(status_code=422, content={
            "detail": f"the profile is not valid ({count} problem{'s' if count != 1 else ''})",
            "problems": exc.problems})
    if answer.outcome == "unchanged":
        response.status_code = 200
    else:
        log.info("profile_installed", name=answer.name, version=answer.version,
                 sha256=answer.sha256, role=grant.role.value, signer=answer.signer)
        await audit(state, "profile_installed", role=grant.role.value, name=answer.name,
                    version=answer.version, sha256=answer.sha256)
    return answer
