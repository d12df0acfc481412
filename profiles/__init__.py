"""Treatment profiles shipped with cryoctl (data only, read with importlib.resources)."""
