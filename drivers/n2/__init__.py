"""The N2 cryodestructor driver: ASCII line protocol over a serial port or a socket."""
