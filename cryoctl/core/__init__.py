"""The pure treatment core: the machine, its rules and ledger, the supervisor, alarms, the port.

No I/O and no clock: every entry point takes ``now``. It imports nothing of
``control``, ``panel`` or ``cli``; only ``profile`` (whose vocabulary it speaks)
and the exception tree.
"""
