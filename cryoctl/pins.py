"""Staff and technician PINs: scrypt hashes in the config, checked in constant time.

A PIN is 4 to 12 decimal digits. Its hash is written into the config as one string::

    scrypt$16384$8$1$<salt, base64>$<hash, base64>

(``n``, ``r``, ``p`` are scrypt's cost parameters; the salt is 16 random bytes, the
hash 32 bytes; base64 is the standard alphabet with padding). ``cryoctl pin hash``
prints one. A malformed hash string is a :class:`~cryoctl.errors.ConfigError`
naming what is wrong with it; a PIN that breaks the rule is one too (it is also a
``ValueError``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

from cryoctl.errors import ConfigError

__all__ = [
    "PIN_MAX_DIGITS",
    "PIN_MIN_DIGITS",
    "PinHash",
    "check_pin",
    "hash_pin",
    "parse_pin_hash",
    "random_pin",
    "verify_pin",
]

PIN_MIN_DIGITS: Final = 4
PIN_MAX_DIGITS: Final = 12

SCHEME: Final = "scrypt"
#: Cost of a new hash: 16 MiB of memory, about 50 ms on a desktop core, ~0.2 s on the board.
SCRYPT_N: Final = 2**14
SCRYPT_R: Final = 8
SCRYPT_P: Final = 1
SALT_BYTES: Final = 16
HASH_BYTES: Final = 32

#: Bounds a hash read from a config may ask for, so a bad file cannot stall the panel
#: or exhaust the board's memory.
_N_LOG2_RANGE: Final = range(10, 21)
_R_RANGE: Final = range(1, 33)
_P_RANGE: Final = range(1, 17)
_MAX_MEMORY_BYTES: Final = 256 * 1024 * 1024
_MIN_SALT_BYTES: Final = 16
_HASH_BYTES_RANGE: Final = range(16, 65)

_PIN = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[1-9][0-9]{0,9}")


@dataclass(frozen=True, slots=True)
class PinHash:
    """A parsed ``scrypt$n$r$p$salt$hash`` string."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def encode(self) -> str:
        salt = base64.b64encode(self.salt).decode("ascii")
        digest = base64.b64encode(self.digest).decode("ascii")
        return f"{SCHEME}${self.n}${self.r}${self.p}${salt}${digest}"


def check_pin(pin: str) -> str:
    """``pin`` if it is 4 to 12 digits; a ConfigError saying why not otherwise.

    The message never repeats the PIN.
    """
    rule = f"a PIN is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits (0-9)"
    if _PIN.fullmatch(pin) is None:
        raise ConfigError(f"{rule}; this one has characters other than digits"
                          if pin else f"{rule}; this one is empty")
    if not PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS:
        raise ConfigError(f"{rule}; this one is {len(pin)} digits long")
    return pin


def _memory_bytes(n: int, r: int, p: int) -> int:
    # OpenSSL's own accounting: the V array plus the B blocks.
    return 128 * r * (n + 2) + 128 * r * p


def _derive(secret: bytes, *, n: int, r: int, p: int, salt: bytes, length: int) -> bytes:
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=_memory_bytes(n, r, p) + 1024 * 1024)


def hash_pin(pin: str) -> str:
    """The ``scrypt$...`` string of a new hash of ``pin``, with a fresh random salt."""
    check_pin(pin)
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(pin.encode("ascii"), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, salt=salt,
                     length=HASH_BYTES)
    return PinHash(SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, digest).encode()


def _number(text: str, name: str) -> int:
    if _DECIMAL.fullmatch(text) is None:
        raise ConfigError(f"scrypt parameter {name} must be a positive decimal integer, "
                          f"got {text[:20]!r}")
    return int(text)


def _b64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ConfigError(f"the {name} is not base64 (A-Z, a-z, 0-9, + and /, "
                          "padded with =)") from None


def parse_pin_hash(encoded: str) -> PinHash:
    """Parse and bound-check a ``scrypt$n$r$p$salt$hash`` string. Raises ConfigError."""
    fields = encoded.split("$")
    if fields[0] != SCHEME:
        # Never shown: a PIN written here by mistake would end up in the log.
        raise ConfigError("not a PIN hash: expected scrypt$N$R$P$SALT$HASH as "
                          "'cryoctl pin hash' prints it (the PIN itself never goes in the config)")
    if len(fields) != 6:
        raise ConfigError(f"a PIN hash has 6 fields separated by $ "
                          f"(scrypt$N$R$P$SALT$HASH), this one has {len(fields)}")
    n = _number(fields[1], "N")
    r = _number(fields[2], "r")
    p = _number(fields[3], "p")
    if n & (n - 1) or n.bit_length() - 1 not in _N_LOG2_RANGE:
        raise ConfigError(f"scrypt parameter N must be a power of two from "
                          f"2**{_N_LOG2_RANGE.start} to 2**{_N_LOG2_RANGE.stop - 1}, got {n}")
    if r not in _R_RANGE:
        raise ConfigError(f"scrypt parameter r must be between 1 and {_R_RANGE.stop - 1}, "
                          f"got {r}")
    if p not in _P_RANGE:
        raise ConfigError(f"scrypt parameter p must be between 1 and {_P_RANGE.stop - 1}, "
                          f"got {p}")
    if _memory_bytes(n, r, p) > _MAX_MEMORY_BYTES:
        raise ConfigError(f"scrypt parameters N={n}, r={r} need more than the "
                          f"{_MAX_MEMORY_BYTES // 2**20} MiB allowed")
    salt = _b64(fields[4], "salt")
    digest = _b64(fields[5], "hash")
    if len(salt) < _MIN_SALT_BYTES:
        raise ConfigError(f"the salt is {len(salt)} bytes; at least {_MIN_SALT_BYTES} "
                          "are required")
    if len(digest) not in _HASH_BYTES_RANGE:
        raise ConfigError(f"the hash is {len(digest)} bytes; it must be "
                          f"{_HASH_BYTES_RANGE.start} to {_HASH_BYTES_RANGE.stop - 1}")
    return PinHash(n, r, p, salt, digest)


def verify_pin(pin: str, encoded: str | PinHash) -> bool:
    """Whether ``pin`` matches the hash, in time that depends on neither.

    A PIN that breaks the rule never matches, but costs the same scrypt run, so
    timing tells nothing about why a PIN was refused. A malformed ``encoded`` is a
    ConfigError (the config is wrong, not the PIN).
    """
    stored = encoded if isinstance(encoded, PinHash) else parse_pin_hash(encoded)
    well_formed = (_PIN.fullmatch(pin) is not None
                   and PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS)
    secret = pin.encode("ascii") if well_formed else b""
    derived = _derive(secret, n=stored.n, r=stored.r, p=stored.p, salt=stored.salt,
                      length=len(stored.digest))
    return hmac.compare_digest(derived, stored.digest) and well_formed


def random_pin(digits: int = 6) -> str:
    """A PIN of ``digits`` digits from the operating system's random source."""
    if not PIN_MIN_DIGITS <= digits <= PIN_MAX_DIGITS:
        raise ConfigError(f"a PIN has {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits, "
                          f"not {digits}")
    return "".join(secrets.choice("0123456789") for _ in range(digits))
