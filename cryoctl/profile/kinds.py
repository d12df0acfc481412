"""The kinds of unit a profile may name: the profiles' vocabulary, which the core's port speaks."""

from __future__ import annotations

import enum

__all__ = ["DeviceKind"]


class DeviceKind(enum.StrEnum):
    """The kinds of unit cryoctl drives; profiles name one of these."""

    N2 = "n2"
    CJ_AIR = "cj-air"
