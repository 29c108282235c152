"""wspsan: a Winsock SAN service provider's connection setup over emulated SAN devices.

Devices reach each other over a fabric: alone, in-process, TCP, or a provider's own transport.

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



def library_path() -> str:
    """The path of a shared library that exports the whole C ABI of ``wspsan.h`` (every
    ``wspsan_*`` function) on the same process-wide provider as ``wspsan.wsp``: this module's
    own native part. Load it with ``ctypes.CDLL(wspsan.library_path())`` when C code called
    from Python must share that provider (a listener made through ctypes is then visible to
    ``wspsan.wsp`` and the other way round).

    A ``libwspsan.so`` or ``libwspsan.a`` loaded or linked separately is another copy of the
    engine with its own process-wide provider, invisible from here; programs in other
    processes reach this provider's listeners through the TCP fabric (``WSPSAN_FABRIC=tcp``).
    ``wspsan.Provider`` objects are reachable from Python only.
    """
    path = _wspsan.__file__
    assert path is not None  # an extension module always has its file
    return path
