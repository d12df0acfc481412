"""pytest fixtures that start simulated units on free ports or ptys."""
