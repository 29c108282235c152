"""The calls that tests checking one rule through both Python faces make: the Pythonic API
(`wspsan.Provider`, `Socket`) and the C ABI (`wspsan.wsp`, on the process-wide provider).

On both faces a socket is its descriptor (an int); the Pythonic face keeps its `Socket` objects
alive (a collected socket is closed, which records FD_CLOSE on its peer, SPEC K3). The `face`
fixture of conftest.py gives each face in turn.
"""

from __future__ import annotations

import abc
import struct
from collections.abc import Callable

import wspsan
from wspsan import wsp

HOST = "127.0.0.1"

Condition = Callable[[wspsan.ConditionRequest], object]


class Face(abc.ABC):
    """One face of the provider. Calls that may fail return 0 or the WSAE code; the others
    assert that they succeeded."""

    @abc.abstractmethod
    def socket(self) -> int:
        """A new blocking socket."""

    @abc.abstractmethod
    def bind(self, s: int, address: tuple[str, int]) -> None: ...

    @abc.abstractmethod
    def listen(self, s: int, backlog: int) -> None: ...

    @abc.abstractmethod
    def name(self, s: int) -> tuple[str, int]:
        """The local address (`WSPGetSockName`)."""

    @abc.abstractmethod
    def set_nonblocking(self, s: int) -> None: ...

    @abc.abstractmethod
    def connect(self, s: int, target: tuple[str, int]) -> int:
        """0 or the WSAE code (WSAEWOULDBLOCK: queued, on a non-blocking socket)."""

    @abc.abstractmethod
    def accept(self, s: int, condition: Condition | None = None) -> tuple[int | None, int]:
        """`(socket, 0)` or `(None, WSAE code)`."""

    @abc.abstractmethod
    def close(self, s: int) -> None: ...

    @abc.abstractmethod
    def select(self, s: int, event: wspsan.Event | None, mask: int) -> None:
        """`WSPEventSelect`."""

    @abc.abstractmethod
    def enum(self, s: int, event: wspsan.Event | None = None) -> dict[int, int]:
        """`WSPEnumNetworkEvents`: each reported `FD_*` flag with its error code."""

    @abc.abstractmethod
    def get_option(self, s: int, level: int, name: int) -> int: ...

    @abc.abstractmethod
    def set_option(self, s: int, level: int, name: int, value: int) -> None: ...

    @abc.abstractmethod
    def stats(self, s: int) -> wspsan.ListenerStats:
        """The counters of listener `s` (SPEC D3)."""

    def listener(self, backlog: int = 8) -> tuple[int, tuple[str, int]]:
        """A socket listening on a free port of 127.0.0.1, and its address."""
        s = self.socket()
        self.bind(s, (HOST, 0))
        self.listen(s, backlog)
        return s, self.name(s)

    def pending(self, target: tuple[str, int]) -> int:
        """A non-blocking connector whose request now waits in `target`'s queue."""
        c = self.socket()
        self.set_nonblocking(c)
        assert self.connect(c, target) == wspsan.WSAEWOULDBLOCK
        return c


class PythonFace(Face):
    """`wspsan.Provider` and its `Socket`s."""

    def __init__(self) -> None:
        self.provider = wspsan.Provider()
        self.sockets: dict[int, wspsan.Socket] = {}

    def _keep(self, s: wspsan.Socket) -> int:
        self.sockets[s.descriptor] = s
        return s.descriptor

    def socket(self) -> int:
        return self._keep(self.provider.socket())

    def bind(self, s: int, address: tuple[str, int]) -> None:
        self.sockets[s].bind(address)

    def listen(self, s: int, backlog: int) -> None:
        self.sockets[s].listen(backlog)

    def name(self, s: int) -> tuple[str, int]:
        return self.sockets[s].getsockname()

    def set_nonblocking(self, s: int) -> None:
        self.sockets[s].setblocking(False)

    def connect(self, s: int, target: tuple[str, int]) -> int:
        return self.sockets[s].connect_ex(target)

    def accept(self, s: int, condition: Condition | None = None) -> tuple[int | None, int]:
        try:
            a, _ = self.sockets[s].accept(condition)
        except wspsan.WSAError as e:
            return None, e.winerror
        return self._keep(a), 0

    def close(self, s: int) -> None:
        self.sockets[s].close()

    def select(self, s: int, event: wspsan.Event | None, mask: int) -> None:
        self.sockets[s].event_select(event, mask)

    def enum(self, s: int, event: wspsan.Event | None = None) -> dict[int, int]:
        events = self.sockets[s].enum_network_events(event)
        codes = events.error_codes
        reported = {1 << bit: codes[bit] for bit in range(wspsan.FD_MAX_EVENTS) if events.events >> bit & 1}
        assert reported == {flag: events.error(flag) for flag in reported}
        return reported

    def get_option(self, s: int, level: int, name: int) -> int:
        return self.sockets[s].getsockopt(level, name)

    def set_option(self, s: int, level: int, name: int, value: int) -> None:
        self.sockets[s].setsockopt(level, name, value)

    def stats(self, s: int) -> wspsan.ListenerStats:
        return self.sockets[s].stats()


class CFace(Face):
    """`wspsan.wsp` (the caller does WSPStartup and WSPCleanup)."""

    def socket(self) -> int:
        s, err = wsp.WSPSocket()
        assert err == 0
        return s

    def bind(self, s: int, address: tuple[str, int]) -> None:
        assert wsp.WSPBind(s, address) == (0, 0)

    def listen(self, s: int, backlog: int) -> None:
        assert wsp.WSPListen(s, backlog) == (0, 0)

    def name(self, s: int) -> tuple[str, int]:
        rc, err, address = wsp.WSPGetSockName(s)
        assert (rc, err) == (0, 0) and address is not None
        return address

    def set_nonblocking(self, s: int) -> None:
        assert wsp.WSPIoctl(s, wspsan.FIONBIO, struct.pack("<I", 1)) == (0, 0, None, 0)

    def connect(self, s: int, target: tuple[str, int]) -> int:
        rc, err, _ = wsp.WSPConnect(s, target)
        assert (rc == 0) == (err == 0)
        return err

    def accept(self, s: int, condition: Condition | None = None) -> tuple[int | None, int]:
        a, err, _, _ = wsp.WSPAccept(s, condition)
        assert (a == wspsan.INVALID_SOCKET) == (err != 0)
        return (None if err else a), err

    def close(self, s: int) -> None:
        assert wsp.WSPCloseSocket(s) == (0, 0)

    def select(self, s: int, event: wspsan.Event | None, mask: int) -> None:
        assert wsp.WSPEventSelect(s, event, mask) == (0, 0)

    def enum(self, s: int, event: wspsan.Event | None = None) -> dict[int, int]:
        rc, err, events, codes = wsp.WSPEnumNetworkEvents(s, event)
        assert (rc, err) == (0, 0)
        reported = {1 << bit: codes[bit] for bit in range(wspsan.FD_MAX_EVENTS) if events >> bit & 1}
        # SPEC E4: iErrorCode is written only for the reported events (the rest stays -1)
        unreported = [c for bit, c in enumerate(codes) if not events >> bit & 1]
        assert unreported == [-1] * (wspsan.FD_MAX_EVENTS - len(reported))
        return reported

    def get_option(self, s: int, level: int, name: int) -> int:
        rc, err, raw = wsp.WSPGetSockOpt(s, level, name)
        assert (rc, err) == (0, 0) and len(raw) == 4
        return int(struct.unpack("<i", raw)[0])

    def set_option(self, s: int, level: int, name: int, value: int) -> None:
        assert wsp.WSPSetSockOpt(s, level, name, value) == (0, 0)

    def stats(self, s: int) -> wspsan.ListenerStats:
        rc, err, stats = wsp.device_listener_stats(s)
        assert (rc, err) == (0, 0)
        return stats
