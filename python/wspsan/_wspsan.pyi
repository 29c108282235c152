"""The native part of wspsan (private: import ``wspsan``). Every Winsock rule lives in the engine.

``SPEC X1`` in these docs means the rule X1 of docs/behaviour.md, the behaviour reference
(``docs/behaviour.md#X1``); ``SPEC section 8`` is its section 8.
"""

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Literal, TypeAlias, final

from typing_extensions import Self

from . import wsp as wsp

__all__ = [
    "AF_INET",
    "AccessDeniedError",
    "AddressFamilyNotSupportedError",
    "AddressInUseError",
    "AddressNotAvailableError",
    "AlreadyConnectedError",
    "AlreadyConnectingError",
    "CF_ACCEPT",
    "CF_DEFER",
    "CF_REJECT",
    "CallInterruptedError",
    "ConditionRequest",
    "ConnectAbortedError",
    "ConnectRefusedError",
    "ConnectResetError",
    "Device",
    "DeviceStats",
    "Event",
    "FD_ACCEPT",
    "FD_ACCEPT_BIT",
    "FD_ALL_EVENTS",
    "FD_CLOSE",
    "FD_CLOSE_BIT",
    "FD_CONNECT",
    "FD_CONNECT_BIT",
    "FD_MAX_EVENTS",
    "FD_OOB",
    "FD_OOB_BIT",
    "FD_READ",
    "FD_READ_BIT",
    "FD_WRITE",
    "FD_WRITE_BIT",
    "FIONBIO",
    "Fabric",
    "FaultInjector",
    "FaultStats",
    "FlowSpec",
    "HostUnreachableError",
    "INVALID_SOCKET",
    "IPPROTO_TCP",
    "InvalidArgumentError",
    "InvalidPointerError",
    "Limits",
    "ListenerStats",
    "NetworkDownError",
    "NetworkEvents",
    "NoBufferSpaceError",
    "NotASocketError",
    "NotConnectedError",
    "NotInitializedError",
    "OperationInProgressError",
    "OperationNotSupportedError",
    "OptionNotSupportedError",
    "ProtocolNotSupportedError",
    "Provider",
    "Qos",
    "RequestDeferredError",
    "SIO_ADDRESS_LIST_QUERY",
    "SOCKET_ERROR",
    "SOCK_STREAM",
    "SOL_SOCKET",
    "SOMAXCONN",
    "SOMAXCONN_HINT",
    "SO_ACCEPTCONN",
    "SO_CONNDATA",
    "SO_CONNDATALEN",
    "SO_ERROR",
    "SO_RCVBUF",
    "SO_SNDBUF",
    "SO_TYPE",
    "Socket",
    "SocketTypeNotSupportedError",
    "TimedOutError",
    "TooManySocketsError",
    "VersionNotSupportedError",
    "WSAEACCES",
    "WSAEADDRINUSE",
    "WSAEADDRNOTAVAIL",
    "WSAEAFNOSUPPORT",
    "WSAEALREADY",
    "WSAECONNABORTED",
    "WSAECONNREFUSED",
    "WSAECONNRESET",
    "WSAEFAULT",
    "WSAEHOSTUNREACH",
    "WSAEINPROGRESS",
    "WSAEINTR",
    "WSAEINVAL",
    "WSAEISCONN",
    "WSAEMFILE",
    "WSAENETDOWN",
    "WSAENOBUFS",
    "WSAENOPROTOOPT",
    "WSAENOTCONN",
    "WSAENOTSOCK",
    "WSAEOPNOTSUPP",
    "WSAEPROTONOSUPPORT",
    "WSAEPROTOTYPE",
    "WSAESOCKTNOSUPPORT",
    "WSAETIMEDOUT",
    "WSAEWOULDBLOCK",
    "WSAError",
    "WSANOTINITIALISED",
    "WSATRY_AGAIN",
    "WSAVERNOTSUPPORTED",
    "WouldBlockError",
    "WrongProtocolTypeError",
    "__version__",
    "wsp",
]

__version__: str

# Constants (SPEC section 1): Windows values, and every WSAE code by name.
AF_INET: Final = 2
CF_ACCEPT: Final = 0
CF_DEFER: Final = 2
CF_REJECT: Final = 1
FD_ACCEPT: Final = 0x8
FD_ACCEPT_BIT: Final = 3
FD_ALL_EVENTS: Final = 0x3ff
FD_CLOSE: Final = 0x20
FD_CLOSE_BIT: Final = 5
FD_CONNECT: Final = 0x10
FD_CONNECT_BIT: Final = 4
FD_MAX_EVENTS: Final = 10
FD_OOB: Final = 0x4
FD_OOB_BIT: Final = 2
FD_READ: Final = 0x1
FD_READ_BIT: Final = 0
FD_WRITE: Final = 0x2
FD_WRITE_BIT: Final = 1
FIONBIO: Final = 0x8004667e
INVALID_SOCKET: Final = 0xffffffffffffffff
IPPROTO_TCP: Final = 6
SIO_ADDRESS_LIST_QUERY: Final = 0x48000016
SOCKET_ERROR: Final = -1
SOCK_STREAM: Final = 1
SOL_SOCKET: Final = 0xffff
SOMAXCONN: Final = 0x7fffffff
SO_ACCEPTCONN: Final = 0x2
SO_CONNDATA: Final = 0x7000
SO_CONNDATALEN: Final = 0x7004
SO_ERROR: Final = 0x1007
SO_RCVBUF: Final = 0x1002
SO_SNDBUF: Final = 0x1001
SO_TYPE: Final = 0x1008
WSAEACCES: Final = 10013
WSAEADDRINUSE: Final = 10048
WSAEADDRNOTAVAIL: Final = 10049
WSAEAFNOSUPPORT: Final = 10047
WSAEALREADY: Final = 10037
WSAECONNABORTED: Final = 10053
WSAECONNREFUSED: Final = 10061
WSAECONNRESET: Final = 10054
WSAEFAULT: Final = 10014
WSAEHOSTUNREACH: Final = 10065
WSAEINPROGRESS: Final = 10036
WSAEINTR: Final = 10004
WSAEINVAL: Final = 10022
WSAEISCONN: Final = 10056
WSAEMFILE: Final = 10024
WSAENETDOWN: Final = 10050
WSAENOBUFS: Final = 10055
WSAENOPROTOOPT: Final = 10042
WSAENOTCONN: Final = 10057
WSAENOTSOCK: Final = 10038
WSAEOPNOTSUPP: Final = 10045
WSAEPROTONOSUPPORT: Final = 10043
WSAEPROTOTYPE: Final = 10041
WSAESOCKTNOSUPPORT: Final = 10044
WSAETIMEDOUT: Final = 10060
WSAEWOULDBLOCK: Final = 10035
WSANOTINITIALISED: Final = 10093
WSATRY_AGAIN: Final = 11002
WSAVERNOTSUPPORTED: Final = 10092

def _error(code: int) -> WSAError:
    """The exception a call failing with WSAE ``code`` raises (ValueError for an unknown code)."""

def SOMAXCONN_HINT(b: int) -> int:
    """``SOMAXCONN_HINT(b)``: a backlog of ``b`` clamped into 200..65535 (SPEC L5)."""

# Errors: WSAError and one subclass per code, named after what the code means (never a
# builtin's name: the class derives from the matching builtin instead).

class WSAError(OSError):
    """A Winsock error: ``errno`` and ``winerror`` hold the WSAE code."""

    address: tuple[str, int] | None
    @property
    def winerror(self) -> int: ...

class AccessDeniedError(WSAError, PermissionError):
    """WSAEACCES (10013): The connection request was withdrawn or timed out before it was accepted."""

class AddressFamilyNotSupportedError(WSAError):
    """WSAEAFNOSUPPORT (10047): The address family is not supported."""

class AddressInUseError(WSAError):
    """WSAEADDRINUSE (10048): The address and port are already in use."""

class AddressNotAvailableError(WSAError):
    """WSAEADDRNOTAVAIL (10049): The address is not available on this device."""

class AlreadyConnectedError(WSAError):
    """WSAEISCONN (10056): The socket is already connected."""

class AlreadyConnectingError(WSAError):
    """WSAEALREADY (10037): A connect is already in progress on this socket."""

class CallInterruptedError(WSAError, InterruptedError):
    """WSAEINTR (10004): A blocking operation was interrupted by closing the socket."""

class ConnectAbortedError(WSAError, ConnectionAbortedError):
    """WSAECONNABORTED (10053): The connection was aborted."""

class ConnectRefusedError(WSAError, ConnectionRefusedError):
    """WSAECONNREFUSED (10061): The connection was refused."""

class ConnectResetError(WSAError, ConnectionResetError):
    """WSAECONNRESET (10054): The connection request was reset by the listener."""

class HostUnreachableError(WSAError):
    """WSAEHOSTUNREACH (10065): The host (the device that owns the address) cannot be reached."""

class InvalidArgumentError(WSAError):
    """WSAEINVAL (10022): An invalid argument was supplied or the socket is in the wrong state."""

class InvalidPointerError(WSAError):
    """WSAEFAULT (10014): A pointer or length argument is not valid."""

class NetworkDownError(WSAError):
    """WSAENETDOWN (10050): The network (the SAN device) is down."""

class NoBufferSpaceError(WSAError):
    """WSAENOBUFS (10055): No buffer space is available."""

class NotASocketError(WSAError):
    """WSAENOTSOCK (10038): The descriptor is not a socket."""

class NotConnectedError(WSAError):
    """WSAENOTCONN (10057): The socket is not connected."""

class NotInitializedError(WSAError):
    """WSANOTINITIALISED (10093): WSPStartup has not been called."""

class OperationInProgressError(WSAError):
    """WSAEINPROGRESS (10036): A blocking operation is in progress on this thread."""

class OperationNotSupportedError(WSAError):
    """WSAEOPNOTSUPP (10045): The operation is not supported by this provider."""

class OptionNotSupportedError(WSAError):
    """WSAENOPROTOOPT (10042): The option is unknown or not supported for this operation."""

class ProtocolNotSupportedError(WSAError):
    """WSAEPROTONOSUPPORT (10043): The protocol is not supported."""

class RequestDeferredError(WSAError):
    """WSATRY_AGAIN (11002): The connection request was deferred; try again."""

class SocketTypeNotSupportedError(WSAError):
    """WSAESOCKTNOSUPPORT (10044): The socket type is not supported."""

class TimedOutError(WSAError, TimeoutError):
    """WSAETIMEDOUT (10060): The connection attempt timed out."""

class TooManySocketsError(WSAError):
    """WSAEMFILE (10024): No more socket descriptors are available."""

class VersionNotSupportedError(WSAError):
    """WSAVERNOTSUPPORTED (10092): The requested Winsock version is not supported."""

class WouldBlockError(WSAError, BlockingIOError):
    """WSAEWOULDBLOCK (10035): The operation would block on a non-blocking socket."""

class WrongProtocolTypeError(WSAError):
    """WSAEPROTOTYPE (10041): The protocol is the wrong type for the socket."""

# Provider and device (SPEC D1 to D3).

@final
class Limits:
    """The limits of a device (SPEC D1)."""

    @property
    def max_descriptors(self) -> int: ...
    @property
    def max_backlog(self) -> int: ...
    @property
    def max_caller_data(self) -> int: ...
    @property
    def max_callee_data(self) -> int: ...
    @property
    def max_pending(self) -> int: ...
    @property
    def connect_timeout(self) -> float | None: ...
    def as_dict(self) -> dict[str, Any]: ...

@final
class ListenerStats:
    """Counters of one listening socket (SPEC D3)."""

    @property
    def queued(self) -> int: ...
    @property
    def accepted(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def deferred(self) -> int: ...
    @property
    def refused_full(self) -> int: ...
    @property
    def reset(self) -> int: ...
    @property
    def withdrawn(self) -> int: ...
    @property
    def refused_by_close(self) -> int: ...
    @property
    def queue_len(self) -> int: ...
    @property
    def backlog(self) -> int: ...
    def as_dict(self) -> dict[str, int]: ...

@final
class DeviceStats:
    """Device-wide counters (SPEC D3): the listener counters summed, plus device-only ones."""

    @property
    def queued(self) -> int: ...
    @property
    def accepted(self) -> int: ...
    @property
    def rejected(self) -> int: ...
    @property
    def deferred(self) -> int: ...
    @property
    def refused_full(self) -> int: ...
    @property
    def reset(self) -> int: ...
    @property
    def withdrawn(self) -> int: ...
    @property
    def refused_by_close(self) -> int: ...
    @property
    def queue_len(self) -> int: ...
    @property
    def backlog(self) -> int: ...
    @property
    def refused_no_listener(self) -> int: ...
    @property
    def timed_out(self) -> int: ...
    @property
    def open_sockets(self) -> int: ...
    @property
    def pending(self) -> int: ...
    # The fabric_* counters (SPEC F11) count for a device on the TCP fabric or on a Fabric with
    # faults; they stay 0 for one whose connects are direct calls.
    @property
    def fabric_connections_open(self) -> int:
        """Fabric connections open now, to and from other devices (SPEC F11)."""
    @property
    def fabric_connections_lost(self) -> int:
        """Fabric connections lost: broken, silent, or closed for bad input (SPEC F7, F11)."""
    @property
    def fabric_protocol_errors(self) -> int:
        """Fabric connections closed because the peer broke the protocol (SPEC F8)."""
    @property
    def fabric_key_failures(self) -> int:
        """TCP fabric connections refused: the peer did not prove the same key (SPEC F9)."""
    @property
    def fabric_requests_sent(self) -> int:
        """Connect requests sent to other devices across the fabric (SPEC F11)."""
    @property
    def fabric_requests_received(self) -> int:
        """Connect requests received from other devices across the fabric (SPEC F11)."""
    @property
    def fabric_stale_messages(self) -> int:
        """Fabric messages ignored because they came twice, or after their peer was lost."""
    @property
    def fabric_faults_delayed(self) -> int:
        """Messages a fault injector held back (``FaultStats.delayed`` of ``fabric_faults``: on a
        Fabric with faults, the whole fabric's injector, on the TCP fabric the device's own)."""
    @property
    def fabric_faults_dropped(self) -> int:
        """Messages a fault injector dropped (``FaultStats.dropped``)."""
    @property
    def fabric_faults_duplicated(self) -> int:
        """Messages a fault injector delivered twice (``FaultStats.duplicated``)."""
    @property
    def fabric_faults_reordered(self) -> int:
        """Messages a fault injector delivered out of order (``FaultStats.reordered``)."""
    @property
    def fabric_faults_partitioned(self) -> int:
        """Messages a fault injector lost to a partition (``FaultStats.partitioned``)."""
    def as_dict(self) -> dict[str, int]: ...

# Fabric faults: a fabric that misbehaves on purpose.

_MessageKind: TypeAlias = Literal["request", "answer", "confirm", "withdraw", "close"] | None
"""A kind of fabric message a fault knob singles out; None: every kind."""

@final
class FaultStats:
    """Faults a fault injector injected, by kind of fault."""

    @property
    def delayed(self) -> int:
        """Messages held back by a delay (each copy of a duplicated message counts)."""
    @property
    def dropped(self) -> int:
        """Messages dropped (by ``drop_next`` or ``drop_probability``)."""
    @property
    def duplicated(self) -> int:
        """Messages delivered twice."""
    @property
    def reordered(self) -> int:
        """Messages a reordering window delivered out of their order."""
    @property
    def partitioned(self) -> int:
        """Messages lost to a partition."""
    def as_dict(self) -> dict[str, int]: ...

@final
class FaultInjector:
    """A fault injector on a fabric's connection-setup messages.

    Knobs can be changed at any time from any thread; ``kind`` is ``"request"``, ``"answer"``
    (an acceptance or a refusal), ``"confirm"``, ``"withdraw"``, ``"close"``, or None for every
    kind (another name: ValueError). Times are in seconds. Every random choice is drawn from one
    generator seeded with ``seed``: the same seed and the same sequence of messages give the same
    faults. Handles of one injector compare equal.
    """

    def __new__(cls, seed: int = 0) -> Self: ...
    def delay(self, kind: _MessageKind, min: float, max: float | None = None) -> None:
        """Delay each message of ``kind`` by a time uniform in ``min..max`` seconds (``max``
        omitted: exactly ``min``; 0: no delay). InvalidArgumentError when ``min > max``."""
    def drop_next(self, kind: _MessageKind, n: int = 1) -> None:
        """Drop the next ``n`` messages of ``kind`` (None: the next ``n``, whatever their kind)."""
    def drop_probability(self, kind: _MessageKind, p: float) -> None:
        """Drop each message of ``kind`` with probability ``p`` (0 to 1, else InvalidArgumentError)."""
    def duplicate_probability(self, kind: _MessageKind, p: float) -> None:
        """Deliver each message of ``kind`` twice with probability ``p`` (0 to 1, else InvalidArgumentError)."""
    def reorder(self, window: int) -> None:
        """Shuffle messages within windows of ``window`` (held at most 2 ms; 0 or 1: in order)."""
    def partition(self, a: str, b: str) -> None:
        """Cut the devices owning addresses ``a`` and ``b`` off from each other until ``heal``."""
    def heal(self, a: str | None = None, b: str | None = None) -> None:
        """End the partition between ``a`` and ``b``; with neither, every partition."""
    def reseed(self, seed: int) -> None:
        """Restart the random choices from ``seed``."""
    def clear(self) -> None:
        """Turn every knob off (the counters and the generator carry on)."""
    @property
    def active(self) -> bool:
        """Whether any knob is on."""
    def stats(self) -> FaultStats:
        """How many faults were injected so far."""

@final
class Fabric:
    """An in-process fabric (SPEC F1): providers made with it reach each other's listeners.

    ``faults=True`` (a new ``FaultInjector(seed)``) or ``faults=injector`` makes a fabric that
    misbehaves on purpose: its devices exchange connection-setup messages through the injector
    on a courier thread each, as over the TCP fabric, so a non-blocking connect raises
    WouldBlockError and is answered (refusals too) by FD_CONNECT. ``seed`` goes only with
    ``faults=True`` (else ValueError).
    """

    def __new__(cls, *, faults: bool | FaultInjector | None = None, seed: int | None = None) -> Self: ...
    @property
    def faults(self) -> FaultInjector | None:
        """The fabric's fault injector; None for a fabric without faults."""
    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no message between the fabric's devices is on its way (delayed ones
        included), at most ``timeout`` seconds; True when none is (at once without faults)."""

@final
class Device:
    """A provider's emulated SAN device: NICs, limits and fault switches (SPEC D1, D2)."""

    @property
    def nics(self) -> list[str]: ...
    @property
    def liveness(self) -> float | None:
        """The fabric's liveness interval in seconds (SPEC F7), also how long an acceptance waits
        for its confirmation: on the TCP fabric or a Fabric with faults; None elsewhere (setting
        it there raises InvalidArgumentError)."""
    @liveness.setter
    def liveness(self, seconds: float) -> None: ...
    def add_nic(self, address: str) -> None: ...
    def remove_nic(self, address: str) -> None: ...
    @property
    def limits(self) -> Limits: ...
    def set_limits(
        self,
        *,
        max_descriptors: int = ...,
        max_backlog: int = ...,
        max_caller_data: int = ...,
        max_callee_data: int = ...,
        max_pending: int = ...,
        connect_timeout: float | None = ...,
    ) -> None: ...
    network_down: bool
    buffer_exhaustion: bool
    descriptor_limit: int | None
    connect_timeout: float | None
    wildcard_bind: bool
    def stats(self) -> DeviceStats: ...

@final
class Provider:
    """An independent provider with its own device; providers never see each other's sockets.

    ``nics`` may not hold 0.0.0.0 or an address twice (InvalidArgumentError). ``fabric`` joins a
    ``wspsan.Fabric`` of this process (SPEC F1; an address another provider on it owns:
    AddressInUseError) or, as ``"tcp"``, the TCP fabric: fabric peers are accepted on
    ``NIC:fabric_port`` for each NIC, ``fabric_key`` must match the other devices' (F9), a peer
    silent for ``liveness`` seconds is lost (F7). ``liveness`` also applies on a ``Fabric`` with
    faults; anywhere else it is a ValueError.
    """

    def __new__(
        cls,
        nics: Sequence[str] | None = None,
        *,
        fabric: Fabric | Literal["tcp"] | None = None,
        fabric_port: int = 7470,
        fabric_key: str | bytes | None = None,
        liveness: float | None = None,
        wildcard_bind: bool = True,
        max_descriptors: int = ...,
        max_backlog: int = ...,
        max_caller_data: int = ...,
        max_callee_data: int = ...,
        max_pending: int = ...,
        connect_timeout: float | None = ...,
    ) -> Self: ...
    @staticmethod
    def from_environment(
        environ: Mapping[str, str] | None = None,
        *,
        max_descriptors: int = ...,
        max_backlog: int = ...,
        max_caller_data: int = ...,
        max_callee_data: int = ...,
        max_pending: int = ...,
        connect_timeout: float | None = ...,
    ) -> Provider:
        """A provider placed by ``WSPSAN_FABRIC``, ``WSPSAN_NICS``, ``WSPSAN_FABRIC_PORT`` and
        ``WSPSAN_FABRIC_KEY`` of ``environ`` (default ``os.environ``), read as the C ABI reads them
        (SPEC F3); a value that cannot be parsed raises InvalidArgumentError naming the variable."""
    @property
    def device(self) -> Device: ...
    def socket(self, family: int = 2, type: int = 1, proto: int = 0) -> Socket: ...
    def close(self) -> None:
        """Close every socket of the provider: further calls on them raise NotASocketError
        (their ``close()`` is harmless), ``socket()`` raises ValueError."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, ty: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def stats(self) -> DeviceStats: ...
    @property
    def fabric_faults(self) -> FaultInjector | None:
        """The injector on the device's outgoing setup messages: its Fabric's (one for all the
        fabric's devices), or on the TCP fabric the device's own (seed 0, knobs off until set);
        None for a device whose connects are direct calls."""

# Events (SPEC section 8).

@final
class Event:
    """An event object on an eventfd: ``fileno()`` is readable while the event is set."""

    def __new__(cls) -> Self: ...
    def fileno(self) -> int: ...
    def set(self) -> None: ...
    def reset(self) -> None: ...
    def is_set(self) -> bool: ...
    def close(self) -> None:
        """Let go of the eventfd; afterwards every method but ``close`` raises ValueError. The
        eventfd stays open while a socket's event selection still holds it."""
    @property
    def closed(self) -> bool: ...
    def __enter__(self) -> Self: ...
    def __exit__(
        self, ty: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None: ...

@final
class NetworkEvents:
    """What ``Socket.enum_network_events`` returns (SPEC E4)."""

    @property
    def events(self) -> int: ...
    @property
    def error_codes(self) -> list[int]: ...
    def error(self, flag: int) -> int | None: ...
    def __contains__(self, flag: int) -> bool: ...
    def __bool__(self) -> bool: ...

# Conditional accept (SPEC A5 to A10).

@final
class FlowSpec:
    """One direction of a QoS request, as Windows' ``FLOWSPEC``."""

    def __new__(
        cls,
        *,
        token_rate: int = 0,
        token_bucket_size: int = 0,
        peak_bandwidth: int = 0,
        latency: int = 0,
        delay_variation: int = 0,
        service_type: int = 0,
        max_sdu_size: int = 0,
        minimum_policed_size: int = 0,
    ) -> Self: ...
    @property
    def token_rate(self) -> int: ...
    @property
    def token_bucket_size(self) -> int: ...
    @property
    def peak_bandwidth(self) -> int: ...
    @property
    def latency(self) -> int: ...
    @property
    def delay_variation(self) -> int: ...
    @property
    def service_type(self) -> int: ...
    @property
    def max_sdu_size(self) -> int: ...
    @property
    def minimum_policed_size(self) -> int: ...

@final
class Qos:
    """The quality of service a connect asks for (``QOS``)."""

    def __new__(
        cls, sending: FlowSpec | None = None, receiving: FlowSpec | None = None, provider_specific: bytes = b""
    ) -> Self: ...
    @property
    def sending(self) -> FlowSpec: ...
    @property
    def receiving(self) -> FlowSpec: ...
    @property
    def provider_specific(self) -> bytes: ...

@final
class ConditionRequest:
    """One pending request as a condition function sees it (SPEC A5)."""

    @property
    def caller_address(self) -> tuple[str, int]: ...
    @property
    def callee_address(self) -> tuple[str, int]: ...
    @property
    def caller_data(self) -> bytes | None: ...
    @property
    def qos(self) -> Qos | None: ...
    @property
    def callback_data(self) -> Any: ...
    @property
    def callee_data_capacity(self) -> int: ...
    callee_data: bytes
    group: int

_Condition: TypeAlias = Callable[[ConditionRequest], object]

# Sockets.

@final
class Socket:
    """A socket of a Provider; blocking calls release the GIL and let Ctrl-C through."""

    def bind(self, address: tuple[str, int]) -> None: ...
    def listen(self, backlog: int) -> None: ...
    def connect(
        self,
        address: tuple[str, int],
        caller_data: bytes | None = None,
        qos: Qos | None = None,
        timeout: float | None = None,
    ) -> bytes: ...
    def connect_ex(
        self,
        address: tuple[str, int],
        caller_data: bytes | None = None,
        qos: Qos | None = None,
        timeout: float | None = None,
    ) -> int: ...
    def accept(
        self,
        condition: _Condition | None = None,
        callback_data: Any = None,
        timeout: float | None = None,
    ) -> tuple[Socket, tuple[str, int]]: ...
    def setblocking(self, flag: bool) -> None: ...
    def getblocking(self) -> bool: ...
    def getsockname(self) -> tuple[str, int]: ...
    def getpeername(self) -> tuple[str, int]: ...
    def getsockopt(self, level: int, optname: int) -> int: ...
    def setsockopt(self, level: int, optname: int, value: int) -> None: ...
    def callee_data(self) -> bytes: ...
    def event_select(self, event: Event | None, mask: int) -> None: ...
    def enum_network_events(self, event: Event | None = None) -> NetworkEvents: ...
    def stats(self) -> ListenerStats: ...
    def close(self) -> None: ...
    @property
    def descriptor(self) -> int:
        """The provider's descriptor (``SOCKET``), also after close; no OS file descriptor, so a
        Socket has no ``fileno()``: wait on an ``Event`` (``event_select``) instead."""
    def __enter__(self) -> Self: ...
    def __exit__(
        self, ty: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None: ...
