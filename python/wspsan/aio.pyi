"""asyncio for wspsan: awaitable accept, connect and event waits (see the module's docstring)."""

from collections.abc import Callable
from typing import Any, Final

from ._wspsan import ConditionRequest, Event, Qos, Socket

__all__ = ["POLL", "accept", "connect", "wait"]

POLL: Final[float]
"""How often (seconds) a waiting accept or connect looks whether its socket was closed under it."""

async def wait(event: Event) -> None:
    """Until ``event`` is set (not reset by the wait); cancelling leaves the event as it is."""

async def accept(
    sock: Socket,
    condition: Callable[[ConditionRequest], object] | None = None,
    callback_data: Any = None,
) -> tuple[Socket, tuple[str, int]]:
    """``sock.accept(condition, callback_data)`` that waits for FD_ACCEPT instead of blocking the
    loop; the accepted socket is blocking with no event selection. Cancelling a waiting accept
    takes nothing off the queue."""

async def connect(
    sock: Socket,
    address: tuple[str, int],
    caller_data: bytes | None = None,
    qos: Qos | None = None,
) -> bytes:
    """``sock.connect(...)`` that waits for FD_CONNECT instead of blocking the loop; returns the
    callee data. Cancelling withdraws the request by closing the socket (SPEC C7, A12)."""
