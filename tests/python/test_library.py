"""One process-wide provider for C and Python: `wspsan.library_path()` is a shared library with
the whole C ABI on the provider `wspsan.wsp` uses; a separately loaded libwspsan.so is another
engine with a provider of its own."""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

import wspsan
from wspsan import wsp

REPO = Path(__file__).resolve().parents[2]
SOCKET = ctypes.c_size_t  # uintptr_t
LPINT = ctypes.POINTER(ctypes.c_int)


def c_abi(path: str) -> ctypes.CDLL:
    lib = ctypes.CDLL(path)
    lib.wspsan_WSPSocket.restype = SOCKET
    lib.wspsan_WSPSocket.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32,
                                     ctypes.c_uint32, LPINT]  # fmt: skip
    lib.wspsan_WSPBind.argtypes = [SOCKET, ctypes.c_char_p, ctypes.c_int, LPINT]
    lib.wspsan_WSPListen.argtypes = [SOCKET, ctypes.c_int, LPINT]
    lib.wspsan_WSPAccept.restype = SOCKET
    lib.wspsan_WSPAccept.argtypes = [SOCKET, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, LPINT]
    lib.wspsan_WSPCloseSocket.argtypes = [SOCKET, LPINT]
    return lib


def sockaddr_in(host: str, port: int) -> bytes:
    return struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + socket.inet_aton(host) + bytes(8)


@pytest.fixture
def session() -> Iterator[None]:
    assert wsp.WSPStartup()[0] == 0
    try:
        yield
    finally:
        assert wsp.WSPCleanup() == (0, 0)


def test_library_path_is_the_c_abi_of_the_provider_wsp_uses(session: None) -> None:
    # SPEC section 2 (the exports) on one process-wide provider
    lib = c_abi(wspsan.library_path())
    err = ctypes.c_int(0)
    s = lib.wspsan_WSPSocket(wspsan.AF_INET, wspsan.SOCK_STREAM, 0, None, 0, 0, ctypes.byref(err))
    assert err.value == 0
    assert lib.wspsan_WSPBind(s, sockaddr_in("127.0.0.1", 0), 16, ctypes.byref(err)) == 0
    assert lib.wspsan_WSPListen(s, 4, ctypes.byref(err)) == 0
    # made through ctypes, seen by wspsan.wsp
    rc, e, target = wsp.WSPGetSockName(s)
    assert (rc, e) == (0, 0) and target is not None and target[0] == "127.0.0.1"
    c, e = wsp.WSPSocket()
    assert wsp.WSPIoctl(c, wspsan.FIONBIO, (1).to_bytes(4, "little"))[:2] == (0, 0)
    assert wsp.WSPConnect(c, target)[1] == wspsan.WSAEWOULDBLOCK
    a = lib.wspsan_WSPAccept(s, None, None, None, 0, ctypes.byref(err))
    assert err.value == 0 and a != wspsan.INVALID_SOCKET
    assert wsp.WSPGetPeerName(a)[2] == wsp.WSPGetSockName(c)[2]
    assert lib.wspsan_WSPCloseSocket(s, ctypes.byref(err)) == 0
    assert wsp.WSPListen(s, 1)[1] == wspsan.WSAENOTSOCK  # closed through ctypes: gone here too


def test_a_separately_loaded_libwspsan_has_its_own_provider(session: None) -> None:
    # The pitfall library_path() avoids: libwspsan.so (make c-lib builds it; py-test runs it)
    separate = REPO / "target" / "debug" / "libwspsan.so"
    assert separate.is_file(), "build it with `make c-lib`"
    lib = c_abi(str(separate))
    s, e = wsp.WSPSocket()
    assert wsp.WSPBind(s, ("127.0.0.1", 0)) == (0, 0) and wsp.WSPListen(s, 4) == (0, 0)
    err = ctypes.c_int(0)
    assert lib.wspsan_WSPListen(s, 4, ctypes.byref(err)) == -1
    assert err.value == wspsan.WSANOTINITIALISED  # that copy saw no WSPStartup: another provider
    shared = c_abi(wspsan.library_path())
    assert shared.wspsan_WSPListen(s, 4, ctypes.byref(err)) == 0  # the same call, shared provider
