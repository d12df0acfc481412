"""pytest fixtures that start simulated units on free ports or ptys."""

from simulator.cjair.fixtures import CjAirHandle, cjair_factory, cjair_rtu, cjair_tcp  # noqa: F401
from simulator.n2.fixtures import N2Handle, n2_factory, n2_pty, n2_tcp  # noqa: F401
