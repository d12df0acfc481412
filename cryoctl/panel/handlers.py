"""Every error the panel answers is JSON with a message, never a traceback.

- HTTPException (401, 403, 404, 405, 409, 413, 429 ...): ``{"detail": "..."}``
  with its headers (FastAPI's own handler);
- a request that fails validation (malformed JSON too): 422 ``{"detail": "...",
  "errors": [{"loc", "msg", "type"}]}``, without the input (it may hold a PIN);
- the control process unreachable: 503 ``{"detail": "..."}``;
- anything else: 500 ``{"detail": "internal error ..."}``; the exception is logged
  (the server logs its traceback too), the client sees only the message.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from cryoctl.panel.state import ControlUnreachable

__all__ = ["install_handlers"]

log = structlog.get_logger(__name__)

INTERNAL = "internal error in the panel server; the device is not affected, see the log"


def _location(loc: Any) -> str:
    return ".".join(str(part) for part in loc) if isinstance(loc, list | tuple) else str(loc)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
               "type": str(e.get("type", ""))} for e in exc.errors()]
    first = errors[0] if errors else None
    summary = f"{_location(first['loc'])}: {first['msg']}" if first else "invalid request"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return JSONResponse(status_code=422, content={
        "detail": f"the request is not valid: {summary}{more}", "errors": errors})


async def _unreachable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ControlUnreachable)
    return JSONResponse(status_code=503, content={"detail": exc.message},
                        headers={"Retry-After": "1"})


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    route = getattr(request.scope.get("route"), "path", request.url.path)
    log.error("request_failed", method=request.method, route=route,
              error=type(exc).__name__)
    return JSONResponse(status_code=500, content={"detail": INTERNAL})


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(ControlUnreachable, _unreachable)
    app.add_exception_handler(Exception, _internal)
