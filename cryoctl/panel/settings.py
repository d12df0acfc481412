"""The touch panel's own settings kept on the device: for now, its language.

The language chosen on the panel is written to ``panel-settings.json`` in the data
folder (atomically: a temporary file, then a rename), so it survives a restart of
the panel server and a wiped kiosk browser profile. Until one is chosen the
config's ``panel.language`` applies. A broken settings file is logged and the
config's language used: it is never a reason not to serve the panel.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import structlog

from cryoctl.config import Language

__all__ = ["SETTINGS_FILE", "PanelSettings"]

log = structlog.get_logger(__name__)

SETTINGS_FILE = "panel-settings.json"


class PanelSettings:
    """The panel's remembered language, backed by one small JSON file."""

    def __init__(self, directory: Path, *, default_language: Language) -> None:
        self.path = directory / SETTINGS_FILE
        self.default_language = default_language

    def language(self) -> Language:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return self.default_language
        except (OSError, ValueError) as exc:
            log.warning("panel_settings_unreadable", file=str(self.path), error=str(exc))
            return self.default_language
        value = data.get("language") if isinstance(data, dict) else None
        try:
            return Language(str(value))
        except ValueError:
            log.warning("panel_settings_unreadable", file=str(self.path),
                        error=f"language: {value!r} is not one of "
                              f"{', '.join(lang.value for lang in Language)}")
            return self.default_language

    def set_language(self, language: Language) -> None:
        """Remember ``language``; raises OSError when the file cannot be written."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".panel-settings-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"language": language.value}, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
