"""The N2 liquid-nitrogen cryodestructor, simulated from ICD rev C (``n2-serial.md``).

Modules: ``codec`` (bytes and lines), ``protocol`` (the command table and parser),
``commands`` (what each command does), ``faults`` (the fault bits), ``physics`` (dewar,
regulator, tip, oxygen), ``config`` (power-on state, identity), ``core`` (the unit's
rules), ``unit`` (the unit behind its lock), ``state`` (JSON view), ``server`` (pty and
TCP line servers), ``runner`` (a unit on a loop in a thread), ``fixtures`` (pytest),
``cli`` (``cryoctl sim n2``).
Each module's docstring records the decisions it takes where the ICD leaves room.

In-process, on an injected clock (fast tests, no I/O)::

    clock = ManualClock()
    unit = N2Unit(clock=clock)
    unit.receive(b"$RESET*55\r\n")      # -> [Outgoing(b"$OK,RESET*7D\r\n", answer=True)]
    clock.advance(1.0); unit.advance()   # deadlines and physics up to the clock
    unit.take_output()                   # events raised meanwhile
"""

from simulator.n2.unit import N2Config, N2Unit

__all__ = ["N2Config", "N2Unit"]
