"""The C ABI of wspsan called as C calls it, on the process-wide provider.

Every WSP function returns ``(result, error)``: the C return value and ``*lpErrno`` (0 unless
the call failed, SPEC X3), followed by its output parameters. ``None`` for an optional pointer
argument passes NULL. As in C, a call checks the descriptor first, then whether the socket's
state allows it, and its pointer arguments last (SPEC X4). Blocking calls (``WSPAccept``,
``WSPConnect`` on a blocking socket) release the GIL and let Ctrl-C through as ``Socket.accept``
does: the wait is abandoned (a connect withdrawn) and KeyboardInterrupt raised. A condition
function that raises gives no answer: the accept is abandoned, the request stays at the head
(not counted as deferred, FD_ACCEPT recorded again), and the exception is raised.

``SPEC X1`` in these docs means the rule X1 of docs/behaviour.md, the behaviour reference
(``docs/behaviour.md#X1``); ``SPEC section 8`` is its section 8.
"""

from collections.abc import Callable
from typing import Any, Literal, overload

from wspsan._wspsan import ConditionRequest, DeviceStats, Event, ListenerStats, Qos

__all__ = [
    "WSACloseEvent",
    "WSACreateEvent",
    "WSPAccept",
    "WSPBind",
    "WSPCleanup",
    "WSPCloseSocket",
    "WSPConnect",
    "WSPEnumNetworkEvents",
    "WSPEventSelect",
    "WSPGetPeerName",
    "WSPGetSockName",
    "WSPGetSockOpt",
    "WSPIoctl",
    "WSPListen",
    "WSPSetSockOpt",
    "WSPSocket",
    "WSPStartup",
    "__doc__",
    "device_add_nic",
    "device_get_faults",
    "device_get_limits",
    "device_listener_stats",
    "device_remove_nic",
    "device_set_buffer_exhaustion",
    "device_set_connect_timeout",
    "device_set_descriptor_limit",
    "device_set_limits",
    "device_set_network_down",
    "device_set_wildcard_bind",
    "device_stats",
    "last_error_message",
    "strerror",
    "switch_handle",
    "test_inject_panic",
    "version",
]


def WSPStartup(version: int = 0x0202, upcalls: Any = None) -> tuple[int, dict[str, Any] | None]: ...
def WSPCleanup() -> tuple[int, int]: ...
def WSPSocket(af: int = 2, type: int = 1, protocol: int = 0, flags: int = 0) -> tuple[int, int]: ...
def WSPBind(s: int, address: tuple[str, int] | None, namelen: int = 16, family: int = 2) -> tuple[int, int]: ...
def WSPListen(s: int, backlog: int) -> tuple[int, int]: ...
def WSPConnect(
    s: int,
    address: tuple[str, int] | None,
    caller_data: bytes | None = None,
    callee_len: int | None = None,
    qos: Qos | None = None,
    namelen: int = 16,
    family: int = 2,
) -> tuple[int, int, bytes | None]: ...
def WSPAccept(
    s: int,
    condition: Callable[[ConditionRequest], object] | None = None,
    callback_data: int = 0,
    addr: bool = True,
    addrlen: int | None = 16,
) -> tuple[int, int, tuple[str, int] | None, int | None]:
    """``WSPAccept``; ``condition(request)`` is the condition function (its exception abandons
    the accept, the request stays first, and is raised here, as from ``Socket.accept``)."""
def WSPCloseSocket(s: int) -> tuple[int, int]: ...
def WSPGetSockName(s: int, namelen: int | None = 16) -> tuple[int, int, tuple[str, int] | None]: ...
def WSPGetPeerName(s: int, namelen: int | None = 16) -> tuple[int, int, tuple[str, int] | None]: ...
def WSPGetSockOpt(s: int, level: int, optname: int, optlen: int | None = 4) -> tuple[int, int, bytes]: ...
def WSPSetSockOpt(
    s: int, level: int, optname: int, optval: int | bytes | None, optlen: int | None = None
) -> tuple[int, int]: ...
@overload
def WSPIoctl(
    s: int,
    code: int,
    in_buffer: bytes | None = None,
    out_len: int | None = None,
    bytes_returned: Literal[True] = True,
    overlapped: bool = False,
) -> tuple[int, int, bytes | None, int]: ...
@overload
def WSPIoctl(
    s: int,
    code: int,
    in_buffer: bytes | None = None,
    out_len: int | None = None,
    *,
    bytes_returned: Literal[False],
    overlapped: bool = False,
) -> tuple[int, int, bytes | None, None]: ...
@overload
def WSPIoctl(
    s: int,
    code: int,
    in_buffer: bytes | None = None,
    out_len: int | None = None,
    bytes_returned: bool = True,
    overlapped: bool = False,
) -> tuple[int, int, bytes | None, int | None]: ...
def WSPEventSelect(s: int, event: Event | int | None, mask: int) -> tuple[int, int]: ...
def WSPEnumNetworkEvents(s: int, event: Event | int | None = None) -> tuple[int, int, int, list[int]]: ...
def WSACreateEvent() -> int: ...
def WSACloseEvent(event: int) -> bool: ...
def switch_handle(s: int) -> tuple[int, int, int]: ...
def strerror(code: int) -> str: ...
def last_error_message() -> str: ...
def version() -> str: ...
def test_inject_panic(calls: int) -> int:
    """Test only: the next ``calls`` C ABI calls on this thread panic inside the boundary (SPEC X4)."""
def device_add_nic(address: str) -> tuple[int, int]: ...
def device_remove_nic(address: str) -> tuple[int, int]: ...
def device_get_limits() -> tuple[int, int, dict[str, int]]: ...
def device_set_limits(
    *,
    max_descriptors: int = ...,
    max_pending: int = ...,
    max_backlog: int = ...,
    max_caller_data: int = ...,
    max_callee_data: int = ...,
    connect_timeout_ms: int = ...,
) -> tuple[int, int]: ...
def device_set_connect_timeout(ms: int) -> tuple[int, int]: ...
def device_set_wildcard_bind(on: bool) -> tuple[int, int]: ...
def device_set_network_down(on: bool) -> tuple[int, int]: ...
def device_set_buffer_exhaustion(on: bool) -> tuple[int, int]: ...
def device_set_descriptor_limit(limit: int) -> tuple[int, int]: ...
def device_get_faults() -> tuple[int, int, dict[str, int]]: ...
def device_stats() -> tuple[int, int, DeviceStats]: ...
def device_listener_stats(s: int) -> tuple[int, int, ListenerStats]: ...
