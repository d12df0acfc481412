"""pytest fixtures that start simulated units on free ports or ptys."""
from simulator.n2.fixtures import N2Handle, n2_factory, n2_pty, n2_tcp  # noqa: F401
