"""Flip one safety guard at a time; the property suite must fail for each.

    python tests/core/mutation_check.py              # every mutation, two at a time
    python tests/core/mutation_check.py rest skin    # only those whose name has a word
    python tests/core/mutation_check.py --list
    python tests/core/mutation_check.py --explore    # new random examples, not CI's fixed set

Each mutation replaces one exact piece of source in a scratch copy of the tree
(the working files, so uncommitted changes count) and runs
``tests/core/test_safety_properties.py`` there without shrinking (with the shell's
fault tests and the controller tests, which also prove the shell keeps spraying
possible). "caught" means the suite failed; "SURVIVED" means no test noticed the
broken guard. The whole list takes about fifteen minutes on two cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = (
    "tests/core/test_safety_properties.py",
    "tests/core/test_shell_faults.py",
    "tests/core/test_controller.py",
)


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str


def _m(name: str, path: str, old: str, new: str) -> Mutation:
    return Mutation(name, path, old, new)


_TS, _TR, _W, _SV, _C = (
    "cryoctl/core/treatment_state.py",
    "cryoctl/core/treatment.py",
    "cryoctl/core/watch.py",
    "cryoctl/core/supervisor.py",
    "cryoctl/control/controller.py",
)

#: The e-stop's latch in Controller.request_estop (the mutation moves the close before it).
_LATCH = "        now = self._clock()\n        out = self.core.run(now, lambda at: self.treatment."

MUTATIONS = (
    # -- the treatment machine: what a new spray needs ------------------------------
    _m("machine: nozzle check", _TS, "rules.nozzle_matches(self.loaded.profile, st),", "None,"),
    _m("machine: unit ready (cooler, pressure, dewar)", _TS,
       "rules.unit_ready(self.loaded.profile, st),", "None,"),
    _m("machine: oxygen reading", _TS, "rules.oxygen(st),", "None,"),
    _m("machine: oxygen alarm blocks until acknowledged", _TS, "    AlarmCode.O2_LOW,\n", ""),
    _m("machine: implausible reading", _TS, "rules.implausible(st),", "None,"),
    _m("machine: trigger held", _TS,
       'None if st.trigger and self._trigger_down else "trigger not held",', "None,"),
    _m("machine: resting refusal", _TS,
       'found.append("resting" if now < s.rest_until_s else None)', "found.append(None)"),
    _m("machine: passes", _TS,
       "if s.ledger.site(s.key).passes >= s.zone_limits.passes:", "if False:"),
    _m("machine: zone, session and cryogen budget", _TS,
       'found.append(f"{cause} budget used up" if budget_s <= rules.BUDGET_EPS_S else None)',
       "found.append(None)"),
    _m("machine: skin-locked zone", _TS,
       'found.append("skin too cold in this zone" if s.zone in s.skin_locked_zones else None)',
       "found.append(None)"),
    # -- the treatment machine: rests, passes, dwell ---------------------------------
    _m("machine: rest time never set", "cryoctl/core/session.py",
       "self.rest_until_s = now + self.zone_limits.rest_s", "self.rest_until_s = now"),
    _m("machine: rest over at once", _TS,
       "return self.session is not None and self._now >= self.session.rest_until_s",
       "return self.session is not None"),
    _m("machine: resume skips the rest", _TS,
       "return self.session is not None and self._now < self.session.rest_until_s",
       "return False"),
    _m("machine: dwell deadline doubled", _TR,
       "self._deadline_s = now + budget_s", "self._deadline_s = now + 2 * budget_s"),
    _m("machine: tie-down (press edge)", _TR,
       "if self.phase is ARMED and self._press_edge and held:", "if self.phase is ARMED and held:"),
    _m("machine: skin lock when a zone begins", _TR,
       "            s.skin_locked_zones.add(s.zone)", "            pass"),
    # -- the treatment machine: what each status is checked for ----------------------
    _m("machine: oxygen close while spraying", _W, "            core.close(now, low, None)",
       "            pass"),
    _m("machine: nozzle close while spraying", _W, "                core.close(now, wrong, None)",
       "                pass"),
    _m("machine: skin stop close", _W, 'core.close(now, "skin at its stop limit", None)', "pass"),
    _m("machine: skin stop locks the zone", _W,
       "                session.skin_locked_zones.add(session.zone)", "                pass"),
    _m("machine: unit e-stop latch", _W,
       "if st.estop_latched and core.phase is not ESTOP:", "if False:"),
    _m("machine: unit fault bits", _W, "        if st.faulted:\n", "        if False:\n"),
    _m("machine: the plausibility test itself", "cryoctl/core/rules.py",
       "if value is not None and not low <= value <= high:", "if False:"),
    _m("machine: stuck valve is a host e-stop", _W,
       'self._core.host_estop = self._core.host_estop or "valve stuck open"', "pass"),
    _m("machine: stale data close", _TR, "        if stale is not None:\n            self.close",
       "        if False:\n            self.close"),
    _m("machine: link-loss detection", _TR,
       "and now - self._last_answer_s > rules.LOST_PERIODS * self.period_s",
       "and now - self._last_answer_s > 1000 * self.period_s"),
    _m("machine: a failed read is not an unanswered request", _TR,
       '"read error") -> Commands:\n        self._now = now\n        self._unanswered = True',
       '"read error") -> Commands:\n        self._now = now\n        self._unanswered = False'),
    _m("machine: a failed write is not an unanswered request", _TR,
       "        self._unanswered = True\n        code = AlarmCode.CLOSE_FAILED",
       "        code = AlarmCode.CLOSE_FAILED"),
    _m("machine: the host's own stall taken for a lost link", _TR,
       "            self._unanswered\n            and self._last_answer_s is not None",
       "            True\n            and self._last_answer_s is not None"),
    _m("machine: e-stop reset goes to armed", "cryoctl/core/machine.py",
       '_t("reset_estop", Phase.ESTOP, Phase.SELFTEST, "estop_latch_clear")',
       '_t("reset_estop", Phase.ESTOP, Phase.ARMED, "estop_latch_clear")'),
    _m("machine: e-stop reset skips the protection read-back", "cryoctl/core/machine.py",
       '_t("reset_estop", Phase.ESTOP, Phase.SELFTEST, "estop_latch_clear")',
       '_t("reset_estop", Phase.ESTOP, Phase.IDLE, "estop_latch_clear")'),
    _m("machine: fault reset skips the protection read-back", "cryoctl/core/machine.py",
       '_t("reset_fault", Phase.FAULT, Phase.SELFTEST, "fault_cleared")',
       '_t("reset_fault", Phase.FAULT, Phase.IDLE, "fault_cleared")'),
    _m("machine: per-field age (telemetry)", "cryoctl/core/rules.py",
       "if telemetry_age_s > max(TELEMETRY_MAX_AGE_S, limit_s):", "if False:"),
    _m("machine: frozen tip reading", _W,
       "if moving and low < tip < high and now - self._tip_changed_at_s > rules.FROZEN_AFTER_S:",
       "if False:"),
    _m("machine: heartbeat echo behind", "cryoctl/core/rules.py",
       "if echo_at_s is not None and now - echo_at_s > max(ECHO_MAX_AGE_S, limit_s):",
       "if False:"),
    _m("machine: a long outage ends the session", _TR,
       "and now - lost_at > self.link_grace_s", "and False"),
    _m("machine: a held session returns paused", "cryoctl/core/machine.py",
       '_t("selftest_passed", Phase.SELFTEST, Phase.PAUSED,',
       '_t("selftest_passed", Phase.SELFTEST, Phase.ARMED,'),
    _m("machine: open cap not confirmed for the zone", _TS,
       "if cap_ms is not None and self.open_cap_confirmed_ms != cap_ms:", "if False:"),
    _m("machine: lost link recorded as completed", _TR,
       'now, Outcome.INTERRUPTED, f"communication lost for over',
       'now, Outcome.COMPLETED, f"communication lost for over'),
    _m("machine: e-stop recorded as stopped", _TR,
       "self._end_session(now, Outcome.ESTOP, source)",
       "self._end_session(now, Outcome.STOPPED, source)"),
    # -- the safety supervisor -----------------------------------------------------------
    _m("supervisor: stale", _SV,
       "if now - st.read_at_s > stale_s + _EPS:", "if False:"),
    _m("supervisor: oxygen", _SV, "if st.o2_pct is None or not st.o2_pct >= _O2_LOW_PCT:",
       "if False:"),
    _m("supervisor: nozzle", _SV, "if st.nozzle != ctx.nozzle:", "if False:"),
    _m("supervisor: trigger held", _SV, "if not self._trigger_down:", "if False:"),
    _m("supervisor: implausible readings", _SV,
       "if value is not None and not low <= value <= high:", "if False:"),
    _m("supervisor: paused", _SV, "if ctx.paused:", "if False:"),
    _m("supervisor: tie-down", _SV, "if self._need_release:", "if False:"),
    _m("supervisor: rest", _SV,
       "if now < self._site_closed_at_s.get(site, -math.inf) + ctx.rest_s - _EPS:", "if False:"),
    _m("supervisor: passes", _SV, "if self._site_opens.get(site, 0) >= ctx.passes:",
       "if False:"),
    _m("supervisor: new open with the zone used up", _SV,
       "if self._site_open_s.get(site, 0.0) >= ctx.max_total_s - _EPS:", "if False:"),
    _m("supervisor: dwell", _SV, "elif now - self._open_since_s > ctx.max_dwell_s + _EPS:",
       "elif False:"),
    _m("supervisor: zone total", _SV,
       "if self._site_open_s.get(site, 0.0) > ctx.max_total_s + _EPS:", "if False:"),
    _m("supervisor: session time", _SV, "if self._session_s > ctx.max_session_s + _EPS:",
       "if False:"),
    _m("supervisor: skin lock", _SV, "if site[0] in self._skin_locked:", "if False:"),
    _m("supervisor: halted session refused", _SV,
       "if self._halted is not None and self._halted[0] == ctx.session_id:", "if False:"),
    _m("supervisor: host e-stop halts", _SV,
       '        if ctx.host_estop:\n            return "host e-stop"',
       '        if False:\n            return "host e-stop"'),
    _m("supervisor: unit e-stop halts", _SV,
       "if st is not None and (st.estop_latched or st.read_at_s <= self._estop_event_at_s):",
       "if False:"),
    _m("supervisor: fault halts", _SV, "        if st is not None and st.fault_bits:",
       "        if False:"),
    _m("supervisor: oxygen fault halts", _SV,
       "if st is not None and st.o2_pct is not None and st.o2_pct < _O2_FAULT_PCT:", "if False:"),
    _m("supervisor: lost link halts", _SV,
       "if answer is not None and now - answer > max(_LOST_PERIODS * self._period_s,",
       "if False and answer is not None and now - answer > max(_LOST_PERIODS * self._period_s,"),
    _m("supervisor: per-field age (telemetry)", _SV,
       "if now - st.telemetry_at_s > max(_TELEMETRY_MAX_AGE_S, stale_s) + _EPS:", "if False:"),
    _m("supervisor: frozen tip reading", _SV,
       "if low < tip[0] < high and now - since_s > _FROZEN_TIP_S + self._period_s:", "if False:"),
    _m("supervisor: heartbeat echo behind", _SV,
       "if st.echo_at_s is not None and now - st.echo_at_s > max(_ECHO_MAX_AGE_S, stale_s) + _EPS:",
       "if False:"),
    _m("supervisor: no skin reading", _SV,
       "if now - since > _SKIN_GAP_S + self._period_s:", "if False:"),
    # -- the controller shell ------------------------------------------------------------
    _m("shell: lease renewal while unhealthy", _C,
       "elif not self._valve.open_sent or (self._lease and renew):",
       "elif not self._valve.open_sent or self._lease:"),
    _m("shell: the exact dwell deadline", _C,
       "wake = next_tick if deadline is None else min(next_tick, deadline)", "wake = next_tick"),
    _m("shell: the event-driven close", _C,
       "            self._spawn(self._valve.close())", "            pass"),
    _m("shell: close retry until confirmed", _C,
       "            if self._valve.open_sent or resend:", "            if self._valve.open_sent:"),
    _m("shell: e-stop latch before I/O", _C, _LATCH, "        if not await self._valve.close():\n"
       "            return False\n" + _LATCH),
    _m("shell: the uncommanded open alarm", "cryoctl/control/valve.py",
       "elif (not self.open_sent and status.valve_commanded", "elif (False"),
    _m("shell: a read before the close's acknowledgement is no uncommanded open",
       "cryoctl/control/valve.py",
       "and status.valve_at_s > self.close_acked_at_s):", "and True):"),
    _m("shell: the zone's open cap written", _C,
       "        if wanted is None or wanted == t.open_cap_confirmed_ms",
       "        if True or wanted is None"),
    _m("shell: read-back after a reset or reconnect", _C,
       "        elif self.treatment.phase is SELFTEST:\n            await self._selftest_in_loop()",
       "        elif self.treatment.phase is SELFTEST:\n            self.treatment.on_selftest("
       "protection_ok=True, now=self._clock())"),
    _m("shell: heartbeats only from a healthy cycle", _C,
       "        if self._healthy and due:", "        if due:"),
)

def _scratch_copy() -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode().split("\0")
    dest = Path(tempfile.mkdtemp(prefix="cryoctl-mutant-"))
    for rel in filter(None, files):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _run(tree: Path, mutation: Mutation) -> str:
    path = tree / mutation.path
    text = path.read_text()
    found = text.count(mutation.old)
    if found != 1:
        return f"SKIPPED   {mutation.name}: the guard is in {mutation.path} {found} times"
    path.write_text(text.replace(mutation.old, mutation.new))
    try:
        env = dict(
            os.environ,
            PYTHONPATH=str(tree),
            PYTHONDONTWRITEBYTECODE="1",
            CRYOCTL_HYPOTHESIS_PROFILE="mutation",  # no shrinking (tests/conftest.py)
        )
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *SUITE, "-x", "-q", "-p", "no:cacheprovider",
             "--timeout", "600"],
            cwd=tree, env=env, capture_output=True, text=True,
        )
    finally:
        path.write_text(text)
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    if result.returncode == 1 and failed:
        return f"caught    {mutation.name}: {failed[0].removeprefix('FAILED ')[:110]}"
    return f"SURVIVED  {mutation.name} (pytest exit {result.returncode})"


def _check_imports(tree: Path) -> None:
    """The scratch copy, not the installed tree, must be what the suite imports."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    where = subprocess.run(
        [sys.executable, "-c", "import cryoctl; print(cryoctl.__file__)"],
        cwd=tree, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()
    if not where.startswith(str(tree)):
        raise SystemExit(f"the suite would import {where}, not the mutated copy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("words", nargs="*", help="run only mutations whose name has a word")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--explore", action="store_true", help="random examples (CRYOCTL_EXPLORE)")
    args = parser.parse_args()
    chosen = [m for m in MUTATIONS if not args.words or any(w in m.name for w in args.words)]
    if args.list:
        print("\n".join(m.name for m in chosen))
        return 0
    if args.explore:
        os.environ["CRYOCTL_EXPLORE"] = "1"
    trees = [_scratch_copy() for _ in range(max(1, args.jobs))]
    try:
        _check_imports(trees[0])
        survived = 0
        with ThreadPoolExecutor(len(trees)) as pool:
            free = list(trees)

            def one(m: Mutation) -> str:
                tree = free.pop()
                try:
                    return _run(tree, m)
                finally:
                    free.append(tree)

            for line in pool.map(one, chosen):
                survived += not line.startswith("caught")
                print(line, flush=True)
        print(f"{len(chosen) - survived} of {len(chosen)} mutations caught")
        return 1 if survived else 0
    finally:
        for tree in trees:
            shutil.rmtree(tree, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
