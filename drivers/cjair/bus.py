"""The Modbus link to one CJ-Air unit: one request in flight, urgent writes first.

- Every request waits for the bus at most ``queue_timeout_ms`` and for its answer at
  most ``timeout_ms``; pymodbus runs with ``retries=0`` and no reconnect of its own.
- Reads are retried here, at most ``read_retries`` times, on a timeout or a garbled
  answer; writes are sent once and never repeated.
- A lost link is reopened on the next request once the back-off has passed
  (``reconnect_min_ms`` doubling up to ``reconnect_max_ms``); urgent writes try at once.
- Every frame goes to a :class:`~drivers.trace.FrameTrace`, dumped to the log when a
  request fails or the link drops.
"""

from __future__ import annotations

import asyncio
import termios
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import structlog
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU

from cryoctl.errors import DeviceRefused, DeviceTimeout, DeviceUnavailable, ProtocolError
from drivers.cjair import answers
from drivers.cjair.prio import Priority, PriorityLock
from drivers.trace import Direction, FrameTrace
from drivers.url import MODBUS_TCP, UnitAddress

__all__ = ["ModbusBus"]

_T = TypeVar("_T")
_Client = AsyncModbusTcpClient | AsyncModbusSerialClient

_log = structlog.get_logger("drivers.cjair")


class ModbusBus:
    def __init__(
        self,
        address: UnitAddress,
        *,
        clock: Callable[[], float],
        timeout_ms: int = 250,
        queue_timeout_ms: int = 1000,
        read_retries: int = 2,
        reconnect_min_ms: int = 100,
        reconnect_max_ms: int = 5000,
        on_link_lost: Callable[[float], None] | None = None,
    ) -> None:
        if timeout_ms <= 0 or queue_timeout_ms <= 0:
            raise ValueError("timeouts must be positive")
        if read_retries < 0 or not 0 < reconnect_min_ms <= reconnect_max_ms:
            raise ValueError("read_retries >= 0 and 0 < reconnect_min_ms <= reconnect_max_ms")
        self.address = address
        self.url = address.url
        self._clock = clock
        self._timeout_s = timeout_ms / 1000
        self._queue_timeout_s = queue_timeout_ms / 1000
        self._read_retries = read_retries
        self._backoff_min_s = reconnect_min_ms / 1000
        self._backoff_max_s = reconnect_max_ms / 1000
        self._backoff_s = self._backoff_min_s
        self._next_attempt_s = 0.0
        self._on_link_lost = on_link_lost
        self._device_id = address.device_id if address.device_id is not None else 1
        self._lock = PriorityLock()
        self._client: _Client | None = None
        self._was_up = False
        self._ever_up = False
        self._closed = False
        self.trace = FrameTrace(link=address.url)
        #: counters for diagnostics and tests
        self.requests_sent = 0
        self.read_retries_used = 0
        self.reconnects = 0
        self.trace_dumps = 0
        self._dumped_since_success = False

    # -- the link ---------------------------------------------------------------

    def _make_client(self) -> _Client:
        # retries=0 and reconnect_delay=0: this bus retries reads and reconnects itself.
        a = self.address
        if a.scheme == MODBUS_TCP:
            assert a.host is not None and a.port is not None
            return AsyncModbusTcpClient(
                a.host,
                port=a.port,
                framer=FramerType.SOCKET,
                timeout=self._timeout_s,
                retries=0,
                reconnect_delay=0,
                trace_packet=self._trace_packet,
            )
        assert a.path is not None and a.baud is not None and a.parity is not None
        return AsyncModbusSerialClient(
            a.path,
            framer=FramerType.RTU,
            baudrate=a.baud,
            bytesize=8,
            parity=a.parity,
            stopbits=1,
            timeout=self._timeout_s,
            retries=0,
            reconnect_delay=0,
            trace_packet=self._trace_packet,
        )

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        self.trace.record(Direction.TX if sending else Direction.RX, data, self._clock())
        return data

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.connected

    async def open(self) -> None:
        """Open the link now, or raise DeviceUnavailable naming the URL and the reason."""
        self._closed = False
        if not self.connected:
            await self._connect()

    async def _connect(self) -> None:
        if self._client is None:
            self._client = self._make_client()
        try:
            ok = await asyncio.wait_for(self._client.connect(), timeout=self._timeout_s * 4)
        except termios.error as exc:
            # the port refused the line settings (pyserial lets this escape as is)
            ok = False
            a = self.address
            reason = f"the port refused {a.baud} baud, 8{a.parity}1: {exc.args[-1]}"
        except (TimeoutError, OSError) as exc:
            ok = False
            reason = f"{type(exc).__name__} {exc}".strip()
        else:
            reason = (
                "connection refused or no answer"
                if self.address.is_network
                else "the serial port cannot be opened"
            )
        now_s = self._clock()
        if not ok:
            self._next_attempt_s = now_s + self._backoff_s
            self._backoff_s = min(self._backoff_s * 2, self._backoff_max_s)
            raise DeviceUnavailable(f"{self.url}: cannot open the link ({reason})")
        if self._ever_up:
            self.reconnects += 1
            _log.info("link restored", url=self.url, reconnects=self.reconnects)
        self._was_up = self._ever_up = True
        self._backoff_s = self._backoff_min_s

    async def _ensure_link(self, priority: Priority) -> None:
        if self._closed:
            raise DeviceUnavailable(f"{self.url}: link closed")
        if self.connected:
            return
        if self._was_up and self._client is not None:
            self._lost("link dropped")
        now_s = self._clock()
        if priority is not Priority.URGENT and now_s < self._next_attempt_s:
            wait_ms = round((self._next_attempt_s - now_s) * 1000)
            raise DeviceUnavailable(f"{self.url}: link down, next attempt in {wait_ms} ms")
        await self._connect()

    def _lost(self, reason: str) -> None:
        """Note a lost link once: dump the trace, tell the owner, start the back-off."""
        if self._client is not None:
            self._client.close()
        if not self._was_up:
            return
        self._was_up = False
        now_s = self._clock()
        self._next_attempt_s = now_s + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self._backoff_max_s)
        _log.warning("link lost", url=self.url, reason=reason)
        self._dump(f"link lost: {reason}")
        if self._on_link_lost is not None:
            self._on_link_lost(now_s)

    def _dump(self, reason: str) -> None:
        """Write the frame trace to the log once per run of failures, not on every poll."""
        if self._dumped_since_success:
            _log.warning("request failed", url=self.url, reason=reason)
            return
        self._dumped_since_success = True
        self.trace_dumps += 1
        self.trace.dump(_log, reason)

    async def aclose(self) -> None:
        self._closed = True
        if self._client is not None:
            self._client.close()
            self._client = None
        self._was_up = False

    # -- one request ------------------------------------------------------------

    async def _once(
        self, what: str, call: Callable[[_Client], Awaitable[ModbusPDU]], priority: Priority
    ) -> ModbusPDU:
        try:
            await asyncio.wait_for(self._lock.acquire(priority), timeout=self._queue_timeout_s)
        except TimeoutError:
            raise DeviceTimeout(
                f"{self.url}: {what}: bus busy for {self._queue_timeout_s * 1000:.0f} ms"
            ) from None
        try:
            await self._ensure_link(priority)
            assert self._client is not None
            self.requests_sent += 1
            return await asyncio.wait_for(call(self._client), timeout=self._timeout_s * 2)
        except ConnectionException as exc:
            self._lost(str(exc))
            raise DeviceUnavailable(f"{self.url}: {what}: link down") from None
        except (ModbusIOException, TimeoutError):
            if not self.connected:
                self._lost("no answers")
            raise DeviceTimeout(
                f"{self.url}: {what}: no answer within {self._timeout_s * 1000:.0f} ms"
            ) from None
        except ModbusException as exc:
            raise ProtocolError(f"{self.url}: {what}: {exc}") from None
        finally:
            self._lock.release()

    async def _request(
        self,
        what: str,
        function_code: int,
        call: Callable[[_Client], Awaitable[ModbusPDU]],
        check: Callable[[ModbusPDU, str], _T],
        *,
        priority: Priority = Priority.NORMAL,
        retries: int = 0,
    ) -> _T:
        """One request; timeouts and garbled answers are tried again ``retries`` times."""
        where = f"{self.url}: {what}"
        attempt = 0
        while True:
            try:
                answer = await self._once(what, call, priority)
                result = check(answers.checked(answer, function_code, where), where)
                self._dumped_since_success = False
                return result
            except (DeviceTimeout, ProtocolError) as exc:
                if attempt >= retries:
                    self._dump(str(exc))
                    raise
                attempt += 1
                self.read_retries_used += 1
                _log.info("read retried", url=self.url, what=what, attempt=attempt, error=str(exc))
            except DeviceRefused as exc:
                self._dump(str(exc))
                raise

    # -- reads (retried) ----------------------------------------------------------

    async def read_coils(self, count: int, *, priority: Priority = Priority.NORMAL) -> list[bool]:
        return await self._request(
            f"read {count} coils", answers.FC_READ_COILS,
            lambda c: c.read_coils(0, count=count, device_id=self._device_id),
            lambda a, where: answers.bits_of(a, count, where),
            priority=priority, retries=self._read_retries,
        )

    async def read_discretes(self, count: int) -> list[bool]:
        return await self._request(
            f"read {count} discrete inputs", answers.FC_READ_DISCRETE,
            lambda c: c.read_discrete_inputs(0, count=count, device_id=self._device_id),
            lambda a, where: answers.bits_of(a, count, where),
            retries=self._read_retries,
        )

    async def read_inputs(self, count: int) -> list[int]:
        return await self._request(
            f"read {count} input registers", answers.FC_READ_INPUT,
            lambda c: c.read_input_registers(0, count=count, device_id=self._device_id),
            lambda a, where: answers.words_of(a, count, where),
            retries=self._read_retries,
        )

    async def read_holdings(self, count: int) -> list[int]:
        return await self._request(
            f"read {count} holding registers", answers.FC_READ_HOLDING,
            lambda c: c.read_holding_registers(0, count=count, device_id=self._device_id),
            lambda a, where: answers.words_of(a, count, where),
            retries=self._read_retries,
        )

    # -- writes (sent once) -------------------------------------------------------

    async def write_coil(
        self, address: int, value: bool, *, name: str, priority: Priority = Priority.NORMAL
    ) -> None:
        await self._request(
            f"write coil {name}={int(value)}", answers.FC_WRITE_COIL,
            lambda c: c.write_coil(address, value, device_id=self._device_id),
            lambda a, where: answers.coil_echoed(a, address, value, where),
            priority=priority,
        )

    async def write_register(self, address: int, value: int, *, name: str) -> None:
        await self._request(
            f"write {name}={value}", answers.FC_WRITE_REGISTER,
            lambda c: c.write_register(address, value, device_id=self._device_id),
            lambda a, where: answers.register_echoed(a, address, value, where),
        )

    async def write_registers(self, address: int, values: Sequence[int], *, name: str) -> None:
        await self._request(
            f"write {name}={list(values)}", answers.FC_WRITE_REGISTERS,
            lambda c: c.write_registers(address, list(values), device_id=self._device_id),
            lambda a, where: answers.registers_echoed(a, address, values, where),
        )
