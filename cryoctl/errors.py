"""The one exception tree of cryoctl.

::

    CryoctlError
    ├── ProfileError (ValueError)        a profile file is unreadable or breaks a rule
    ├── ConfigError (ValueError)         a configuration value or command-line value is wrong
    ├── AddressError (ValueError)        a unit URL is malformed or names an unknown scheme
    ├── MachineRefused                   the treatment machine refused a request in its state
    ├── StartupFailed                    the control process could not start (unit, socket)
    ├── ControlUnavailable (OSError)     the control socket cannot be reached, or its link broke
    │   └── ControlTimeout (TimeoutError) the control process did not answer a request in time
    ├── RequestRejected (ValueError)     the control process answered a request with an error
    ├── SocketInUse (OSError)            another process listens on the control socket's path
    ├── RecordsError                     the session records cannot be opened, read or written
    └── DeviceError                      anything between the host and a unit
        ├── DeviceUnavailable (OSError)  the port cannot be opened / the link is down
        ├── DeviceTimeout (TimeoutError) the unit did not answer in time
        ├── ProtocolError (ValueError)   bytes that are not a valid frame or answer
        ├── DeviceRefused                the unit answered with an exception / error code
        └── ConfigMismatch               a protection value did not read back as written

Every leaf also subclasses the built-in it resembles, so callers that only know
Python's exceptions still catch it.
"""

from __future__ import annotations


class CryoctlError(Exception):
    """Root of every error cryoctl raises on purpose."""


class ProfileError(CryoctlError, ValueError):
    """A treatment profile is unreadable or breaks a rule.

    ``problems`` holds one line per problem, each naming the file, the key path
    and the rule.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class ConfigError(CryoctlError, ValueError):
    """A configuration or command-line value is wrong.

    ``problems`` holds one line per problem; a problem of the config file names
    the file, the line where known, the key path and the rule.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class AddressError(CryoctlError, ValueError):
    """A unit URL is malformed or names an unknown scheme."""


class MachineRefused(CryoctlError):
    """The treatment machine refused a request in its current state."""


class StartupFailed(CryoctlError):
    """The control process could not start: the unit, its protection read-back, or the socket.

    The message is one line naming what failed (the unit URL, or the socket path).
    """


class ControlUnavailable(CryoctlError, OSError):
    """The control socket cannot be reached (no daemon, no permission) or the link to it broke."""


class ControlTimeout(ControlUnavailable, TimeoutError):
    """The control process did not answer a request within its deadline."""


class RequestRejected(CryoctlError, ValueError):
    """The control process answered a request with an error (malformed, unknown, too long)."""


class SocketInUse(CryoctlError, OSError):
    """Another process is listening on the control socket's path (or it is not a socket)."""


class RecordsError(CryoctlError):
    """The session records database cannot be opened, upgraded, read or written.

    The message names the database file and what is wrong with it.
    """


class DeviceError(CryoctlError):
    """Anything that went wrong between the host and a unit."""


class DeviceUnavailable(DeviceError, OSError):
    """The port cannot be opened or the link is down."""


class DeviceTimeout(DeviceError, TimeoutError):
    """The unit did not answer within the deadline."""


class ProtocolError(DeviceError, ValueError):
    """Bytes that are not a valid frame, or an answer that does not fit the request."""


class DeviceRefused(DeviceError):
    """The unit answered with a Modbus exception or an ``ER`` line.

    ``code`` is the exception code (int) or the error code (str).
    """

    def __init__(self, message: str, *, code: int | str) -> None:
        self.code = code
        super().__init__(message)


class ConfigMismatch(DeviceError):
    """A protection value (watchdog, lease, open cap) did not read back as written."""
