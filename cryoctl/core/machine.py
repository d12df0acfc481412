"""The treatment state machine as a table (``transitions``).

The machine holds no counters and reads no clock. Every guard is a named method
that asks a :class:`Guards` object (the treatment core's rules) one yes/no
question, so the table below reads as the device's behaviour:

- ``auto_transitions=False``: only the triggers listed here exist;
- a trigger that is not valid in the current state raises
  :class:`~cryoctl.errors.MachineRefused`;
- a lost link leads to ``disconnected``; a session running then is held there
  (its clock stopped) and, when the link returns within the grace time and the
  protection reads back, it comes back ``paused``: spraying again takes a staff
  resume and a new press. A longer outage ends it as interrupted.
- ``estop`` and ``fault`` are latched: the only ways out are their guarded
  resets, and both lead to ``selftest``, never back to treating: every way back
  to arming (a reset, a reconnect, a start) passes the protection read-back again,
  because ``selftest`` leads on only when it is verified.

``treating_*`` are the three sub-states of a running session (armed, spraying,
resting); ``paused`` belongs to the session too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from transitions import Machine, MachineError

from cryoctl.errors import MachineRefused

__all__ = [
    "SESSION_PHASES",
    "TRANSITIONS",
    "Guards",
    "Phase",
    "TreatmentMachine",
]


class Phase(enum.StrEnum):
    STARTING = "starting"
    SELFTEST = "selftest"
    IDLE = "idle"
    READY = "ready"
    ARMED = "treating_armed"
    SPRAYING = "treating_spraying"
    RESTING = "treating_resting"
    PAUSED = "paused"
    COMPLETED = "completed"
    ESTOP = "estop"
    FAULT = "fault"
    DISCONNECTED = "disconnected"


# The members as module names too: Python 3.11 finds an enum member through
# EnumType.__getattr__ (about 0.1 us a lookup; 3.12 stores them plainly), and the
# core compares phases a few dozen times in every control cycle.
STARTING, SELFTEST, IDLE, READY = Phase.STARTING, Phase.SELFTEST, Phase.IDLE, Phase.READY
ARMED, SPRAYING, RESTING, PAUSED = Phase.ARMED, Phase.SPRAYING, Phase.RESTING, Phase.PAUSED
COMPLETED, ESTOP, FAULT = Phase.COMPLETED, Phase.ESTOP, Phase.FAULT
DISCONNECTED = Phase.DISCONNECTED

_BY_NAME = {p.value: p for p in Phase}
#: Phases in which a session is running (its clock may be paused).
SESSION_PHASES = frozenset({Phase.ARMED, Phase.SPRAYING, Phase.RESTING, Phase.PAUSED})
_TREATING = [Phase.ARMED, Phase.SPRAYING, Phase.RESTING]
_ALL = list(Phase)
_NOT_ESTOP = [p for p in _ALL if p is not Phase.ESTOP]
_FAULTABLE = [p for p in _ALL if p not in (Phase.ESTOP, Phase.FAULT)]
_LINKED = [p for p in _ALL if p not in (Phase.ESTOP, Phase.FAULT, Phase.DISCONNECTED)]


class Guards(Protocol):
    """The questions the table's conditions ask. The treatment core answers them."""

    def protection_verified(self) -> bool: ...
    def profile_fits_unit(self) -> bool: ...
    def spray_permitted(self) -> bool: ...
    def pass_open(self) -> bool: ...
    def rest_elapsed(self) -> bool: ...
    def rest_pending(self) -> bool: ...
    def has_next_site(self) -> bool: ...
    def has_next_zone(self) -> bool: ...
    def estop_latch_clear(self) -> bool: ...
    def fault_cleared(self) -> bool: ...
    def session_held(self) -> bool: ...


def _t(
    trigger: str,
    source: Phase | Sequence[Phase],
    dest: Phase | None,
    *conditions: str,
) -> dict[str, Any]:
    sources = [str(source)] if isinstance(source, Phase) else [str(s) for s in source]
    row: dict[str, Any] = {"trigger": trigger, "source": sources, "dest": dest and str(dest)}
    if conditions:
        row["conditions"] = list(conditions)
    return row


#: The whole behaviour, one row per transition: trigger, from, to, guards.
#: ``dest=None`` is an internal transition (the state stays, nothing re-enters).
TRANSITIONS: tuple[dict[str, Any], ...] = (
    _t("connected", Phase.STARTING, Phase.SELFTEST),
    # Rows of one trigger are tried in order: a session held through an outage resumes paused.
    _t("selftest_passed", Phase.SELFTEST, Phase.PAUSED, "protection_verified", "session_held"),
    _t("selftest_passed", Phase.SELFTEST, Phase.IDLE, "protection_verified"),
    _t("selftest_failed", Phase.SELFTEST, Phase.FAULT),
    _t("load_profile", [Phase.IDLE, Phase.READY, Phase.COMPLETED], Phase.READY,
       "profile_fits_unit"),
    _t("start", Phase.READY, Phase.ARMED, "profile_fits_unit", "protection_verified"),
    _t("spray", Phase.ARMED, Phase.SPRAYING, "spray_permitted"),
    # A close with the trigger still held (dwell cut-off, a rule, a supervisor
    # close): the pass stays open until the trigger is released.
    _t("close", Phase.SPRAYING, Phase.ARMED),
    _t("release", Phase.SPRAYING, Phase.RESTING),
    _t("release", Phase.ARMED, Phase.RESTING, "pass_open"),
    _t("rest_over", Phase.RESTING, Phase.ARMED, "rest_elapsed"),
    _t("next_site", [Phase.ARMED, Phase.RESTING], Phase.ARMED, "has_next_site"),
    _t("next_zone", [Phase.ARMED, Phase.RESTING], Phase.ARMED, "has_next_zone"),
    _t("pause", _TREATING, Phase.PAUSED),
    # Rows of one trigger are tried in order: a pause cut into a rest resumes resting.
    _t("resume", Phase.PAUSED, Phase.RESTING, "rest_pending"),
    _t("resume", Phase.PAUSED, Phase.ARMED),
    _t("finish", [*_TREATING, Phase.PAUSED], Phase.COMPLETED),
    _t("dismiss", Phase.COMPLETED, Phase.READY),
    _t("estop", _NOT_ESTOP, Phase.ESTOP),
    _t("estop", Phase.ESTOP, None),
    _t("reset_estop", Phase.ESTOP, Phase.SELFTEST, "estop_latch_clear"),
    _t("fault", _FAULTABLE, Phase.FAULT),
    _t("fault", Phase.FAULT, None),
    _t("reset_fault", Phase.FAULT, Phase.SELFTEST, "fault_cleared"),
    _t("link_lost", [p for p in _LINKED if p is not Phase.STARTING], Phase.DISCONNECTED),
    _t("link_lost", Phase.DISCONNECTED, None),
    _t("link_back", Phase.DISCONNECTED, Phase.SELFTEST),
)


class _Model:
    """What ``transitions`` decorates: the state plus one method per guard name."""

    state: str

    def __init__(self, guards: Guards, owner: TreatmentMachine) -> None:
        self._guards = guards
        self._owner = owner

    def entered(self) -> None:
        self._owner.entered(_BY_NAME[self.state])

    def protection_verified(self) -> bool:
        return self._guards.protection_verified()

    def profile_fits_unit(self) -> bool:
        return self._guards.profile_fits_unit()

    def spray_permitted(self) -> bool:
        return self._guards.spray_permitted()

    def pass_open(self) -> bool:
        return self._guards.pass_open()

    def rest_elapsed(self) -> bool:
        return self._guards.rest_elapsed()

    def rest_pending(self) -> bool:
        return self._guards.rest_pending()

    def has_next_site(self) -> bool:
        return self._guards.has_next_site()

    def has_next_zone(self) -> bool:
        return self._guards.has_next_zone()

    def estop_latch_clear(self) -> bool:
        return self._guards.estop_latch_clear()

    def fault_cleared(self) -> bool:
        return self._guards.fault_cleared()

    def session_held(self) -> bool:
        return self._guards.session_held()


class TreatmentMachine:
    """The table bound to one set of guards. Fire triggers; read :attr:`phase`."""

    #: The current phase (a plain attribute: the control loop reads it many times a cycle).
    phase: Phase

    def __init__(
        self,
        guards: Guards,
        *,
        initial: Phase = Phase.STARTING,
        on_phase: Callable[[Phase], None] | None = None,
    ) -> None:
        self.phase = initial
        self._on_phase = on_phase
        self._model = _Model(guards, self)
        self._machine = Machine(
            model=self._model,
            states=[str(p) for p in Phase],
            transitions=[dict(row) for row in TRANSITIONS],
            initial=str(initial),
            auto_transitions=False,
            ignore_invalid_triggers=False,
            queued=False,
            after_state_change="entered",
        )

    def entered(self, phase: Phase) -> None:
        """The table moved to ``phase`` (``on_phase`` hears it before anything else runs)."""
        self.phase = phase
        if self._on_phase is not None:
            self._on_phase(phase)

    def allows(self, trigger: str) -> bool:
        """Whether ``trigger`` exists in the current phase (guards not evaluated)."""
        return trigger in self._machine.get_triggers(self._model.state)

    def fire(self, trigger: str) -> bool:
        """Fire ``trigger``. False when its guards said no; MachineRefused when illegal."""
        try:
            done: bool = self._machine.events[trigger].trigger(self._model)
        except (MachineError, KeyError) as exc:
            raise MachineRefused(f"{trigger!r} is not allowed in {self._model.state}") from exc
        return done


def mermaid_diagram(*, title: str = "cryoctl treatment state machine") -> str:
    """The table drawn as a mermaid ``stateDiagram-v2`` (what docs/state-machine.md holds)."""
    from transitions.extensions import GraphMachine

    class _Drawn:
        state: str

    graph = GraphMachine(
        model=_Drawn(),
        states=[str(p) for p in Phase],
        transitions=[dict(row) for row in TRANSITIONS],
        initial=str(Phase.STARTING),
        auto_transitions=False,
        graph_engine="mermaid",
        show_conditions=True,
        title=title,
    )
    text: str = graph.get_graph().draw(None)
    return text
