"""wspsan: a Winsock SAN service provider's connection setup over an emulated loopback SAN device.

``Provider()`` makes an independent provider with its own device; ``provider.socket()`` gives
sockets with ``bind``, ``listen``, ``connect`` and a conditional ``accept``. Errors are
``WSAError`` (an ``OSError``) subclasses that also derive from the matching builtin, so
``except ConnectionRefusedError`` works. ``wspsan.wsp`` mirrors the C ABI on the process-wide
provider.

    >>> import wspsan
    >>> p = wspsan.Provider()
    >>> with p.socket() as listener, p.socket() as client:
    ...     listener.bind(("127.0.0.1", 5000))
    ...     listener.listen(8)
    ...     client.setblocking(False)
    ...     client.connect_ex(("127.0.0.1", 5000), caller_data=b"hi") == wspsan.WSAEWOULDBLOCK
    ...     conn, peer = listener.accept(lambda req: wspsan.CF_ACCEPT)
    ...     conn.close()
    True
"""

import enum

from . import _wspsan
from ._wspsan import *  # noqa: F403  (the constants, classes and exceptions)
from ._wspsan import __version__ as __version__
from ._wspsan import wsp as wsp


class CF(enum.IntEnum):
    """What a condition function answers (``CF_ACCEPT``, ``CF_REJECT``, ``CF_DEFER``)."""

    ACCEPT = _wspsan.CF_ACCEPT
    REJECT = _wspsan.CF_REJECT
    DEFER = _wspsan.CF_DEFER

