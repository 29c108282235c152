"""The module surface: constants, exception classes, typing files, reprs."""

from __future__ import annotations

import builtins
import inspect
import pathlib
import pydoc
import selectors
import socket
from collections.abc import Callable

import pytest

import wspsan
from helpers import HOST, listener


def test_constants_have_the_windows_values() -> None:
    assert (wspsan.WSAEINTR, wspsan.WSAEACCES, wspsan.WSAEFAULT, wspsan.WSAEINVAL) == (10004, 10013, 10014, 10022)
    assert (wspsan.WSAEMFILE, wspsan.WSAEWOULDBLOCK, wspsan.WSAEINPROGRESS, wspsan.WSAEALREADY) == (
        10024,
        10035,
        10036,
        10037,
    )
    assert (wspsan.WSAENOTSOCK, wspsan.WSAEPROTOTYPE, wspsan.WSAENOPROTOOPT) == (10038, 10041, 10042)
    assert (wspsan.WSAEPROTONOSUPPORT, wspsan.WSAESOCKTNOSUPPORT, wspsan.WSAEOPNOTSUPP) == (10043, 10044, 10045)
    assert (wspsan.WSAEAFNOSUPPORT, wspsan.WSAEADDRINUSE, wspsan.WSAEADDRNOTAVAIL) == (10047, 10048, 10049)
    assert (wspsan.WSAENETDOWN, wspsan.WSAECONNABORTED, wspsan.WSAECONNRESET, wspsan.WSAENOBUFS) == (
        10050,
        10053,
        10054,
        10055,
    )
    assert (wspsan.WSAEISCONN, wspsan.WSAENOTCONN, wspsan.WSAETIMEDOUT, wspsan.WSAECONNREFUSED) == (
        10056,
        10057,
        10060,
        10061,
    )
    assert (wspsan.WSAVERNOTSUPPORTED, wspsan.WSANOTINITIALISED, wspsan.WSATRY_AGAIN) == (10092, 10093, 11002)
    assert wspsan.SOMAXCONN == 0x7FFFFFFF
    assert wspsan.SOMAXCONN_HINT(5) == -5
    assert (wspsan.CF_ACCEPT, wspsan.CF_REJECT, wspsan.CF_DEFER) == (0, 1, 2)
    assert (wspsan.FD_READ, wspsan.FD_WRITE, wspsan.FD_OOB, wspsan.FD_ACCEPT, wspsan.FD_CONNECT, wspsan.FD_CLOSE) == (
        0x01,
        0x02,
        0x04,
        0x08,
        0x10,
        0x20,
    )
    assert (wspsan.FD_ACCEPT_BIT, wspsan.FD_CONNECT_BIT, wspsan.FD_CLOSE_BIT, wspsan.FD_MAX_EVENTS) == (3, 4, 5, 10)
    assert (wspsan.SOL_SOCKET, wspsan.SO_ACCEPTCONN, wspsan.SO_ERROR, wspsan.SO_TYPE) == (0xFFFF, 0x2, 0x1007, 0x1008)
    assert (wspsan.FIONBIO, wspsan.SIO_ADDRESS_LIST_QUERY) == (0x8004667E, 0x48000016)
    assert (wspsan.SOCKET_ERROR, wspsan.INVALID_SOCKET) == (-1, 2**64 - 1)


def test_cf_is_an_int_enum_of_the_condition_answers() -> None:
    assert [int(m) for m in wspsan.CF] == [wspsan.CF_ACCEPT, wspsan.CF_REJECT, wspsan.CF_DEFER]
    assert int(wspsan.CF.DEFER) == 2 and isinstance(wspsan.CF.ACCEPT, int)


BUILTINS = {
    "ConnectRefusedError": ConnectionRefusedError,
    "WouldBlockError": BlockingIOError,
    "ConnectResetError": ConnectionResetError,
    "ConnectAbortedError": ConnectionAbortedError,
    "TimedOutError": TimeoutError,
    "CallInterruptedError": InterruptedError,
    "AccessDeniedError": PermissionError,
}

#: The class of each code: what the code means, in words (the public names of the errors).
NAMES = {
    "WSAEINTR": "CallInterruptedError",
    "WSAEACCES": "AccessDeniedError",
    "WSAEFAULT": "InvalidPointerError",
    "WSAEINVAL": "InvalidArgumentError",
    "WSAEMFILE": "TooManySocketsError",
    "WSAEWOULDBLOCK": "WouldBlockError",
    "WSAEINPROGRESS": "OperationInProgressError",
    "WSAEALREADY": "AlreadyConnectingError",
    "WSAENOTSOCK": "NotASocketError",
    "WSAEPROTOTYPE": "WrongProtocolTypeError",
    "WSAENOPROTOOPT": "OptionNotSupportedError",
    "WSAEPROTONOSUPPORT": "ProtocolNotSupportedError",
    "WSAESOCKTNOSUPPORT": "SocketTypeNotSupportedError",
    "WSAEOPNOTSUPP": "OperationNotSupportedError",
    "WSAEAFNOSUPPORT": "AddressFamilyNotSupportedError",
    "WSAEADDRINUSE": "AddressInUseError",
    "WSAEADDRNOTAVAIL": "AddressNotAvailableError",
    "WSAENETDOWN": "NetworkDownError",
    "WSAECONNABORTED": "ConnectAbortedError",
    "WSAECONNRESET": "ConnectResetError",
    "WSAENOBUFS": "NoBufferSpaceError",
    "WSAEISCONN": "AlreadyConnectedError",
    "WSAENOTCONN": "NotConnectedError",
    "WSAETIMEDOUT": "TimedOutError",
    "WSAECONNREFUSED": "ConnectRefusedError",
    "WSAEHOSTUNREACH": "HostUnreachableError",
    "WSAVERNOTSUPPORTED": "VersionNotSupportedError",
    "WSANOTINITIALISED": "NotInitializedError",
    "WSATRY_AGAIN": "RequestDeferredError",
}


def test_error_classes_are_named_after_what_their_code_means() -> None:
    for code_name, class_name in NAMES.items():
        cls = getattr(wspsan, class_name)
        code = getattr(wspsan, code_name)
        assert cls.__doc__.startswith(f"{code_name} ({code}): ")
        e = cls(code, "x")
        assert isinstance(e, wspsan.WSAError) and e.winerror == code
    assert len(NAMES) == len([n for n in vars(wspsan) if n.startswith("WSA") and n != "WSAError"])


def test_no_error_class_shadows_a_builtin() -> None:
    # `from wspsan import *` must leave `except ConnectionRefusedError` meaning the builtin.
    for name, value in vars(wspsan).items():
        if isinstance(value, type) and issubclass(value, BaseException):
            assert not hasattr(builtins, name), name


def test_every_code_has_a_wsaerror_subclass() -> None:
    codes = {name: value for name, value in vars(wspsan).items() if name.startswith("WSA") and isinstance(value, int)}
    assert len(codes) == 29
    classes = [c for c in vars(wspsan).values() if isinstance(c, type) and issubclass(c, wspsan.WSAError)]
    assert len(classes) == 30  # WSAError itself and one per code
    assert issubclass(wspsan.WSAError, OSError)
    for cls in classes:
        if cls is wspsan.WSAError:
            continue
        assert cls.__module__ == "wspsan"
        assert cls.__name__.endswith("Error")
        assert cls.__doc__ and cls.__doc__.startswith("WSA")
        builtin = BUILTINS.get(cls.__name__)
        if builtin is not None:
            assert issubclass(cls, builtin)
        else:
            assert cls.__bases__ == (wspsan.WSAError,)


def test_raised_errors_carry_the_code_and_a_readable_message() -> None:
    p = wspsan.Provider()
    s = p.socket()
    with pytest.raises(ConnectionRefusedError) as info:
        s.connect((HOST, 9))
    e = info.value
    assert isinstance(e, wspsan.ConnectRefusedError) and isinstance(e, wspsan.WSAError)
    assert e.errno == e.winerror == wspsan.WSAECONNREFUSED
    assert e.strerror is not None and e.strerror.startswith("WSAECONNREFUSED: ")
    assert "10061" in str(e) and "refused" in str(e)
    assert e.address is None
    quiet = listener(p)
    quiet.setblocking(False)
    with pytest.raises(BlockingIOError):
        quiet.accept()


def test_wsaerror_can_be_raised_by_user_code() -> None:
    e = wspsan.TimedOutError(wspsan.WSAETIMEDOUT, "late")
    assert e.winerror == wspsan.WSAETIMEDOUT and isinstance(e, builtins.TimeoutError)


def test_typing_files_ship_with_the_package() -> None:
    here = pathlib.Path(wspsan.__file__).parent
    assert (here / "py.typed").is_file()
    assert (here / "_wspsan.pyi").is_file()


def test_reprs_are_helpful() -> None:
    p = wspsan.Provider(nics=[HOST, "10.0.0.1"])
    assert repr(p) == "<wspsan.Provider nics=['127.0.0.1', '10.0.0.1'] open_sockets=0>"
    assert "network_down=False" in repr(p.device)
    s = listener(p, 4, (HOST, 5000))
    assert repr(s) == f"<wspsan.Socket descriptor={s.descriptor:#x} laddr=('127.0.0.1', 5000) listening>"
    assert repr(p.stats()).startswith("wspsan.DeviceStats(queued=0, ")
    assert repr(s.stats()).endswith("queue_len=0, backlog=4)")
    s.close()
    assert repr(s) == f"<wspsan.Socket [closed] descriptor={s.descriptor:#x}>"
    assert repr(wspsan.FlowSpec(latency=3)).startswith("wspsan.FlowSpec(token_rate=0, ")
    ev = wspsan.Event()
    assert repr(ev) == f"<wspsan.Event fd={ev.fileno()} reset>"


def test_stats_and_limits_are_comparable_records() -> None:
    a, b = wspsan.Provider(), wspsan.Provider()
    assert a.stats() == b.stats()
    assert a.device.limits == b.device.limits
    assert a.stats().as_dict()["open_sockets"] == 0
    assert set(a.device.limits.as_dict()) == {
        "max_descriptors",
        "max_backlog",
        "max_caller_data",
        "max_callee_data",
        "max_pending",
        "connect_timeout",
    }


def test_addresses_are_checked_like_the_socket_module() -> None:
    p = wspsan.Provider()
    s = p.socket()
    with pytest.raises(TypeError):
        s.bind("127.0.0.1:5000")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        s.bind(("localhost", 5000))
    with pytest.raises(OverflowError):
        s.bind((HOST, 70000))
    with pytest.raises(wspsan.AddressFamilyNotSupportedError):  # SPEC B1: not AF_INET
        s.bind(("::1", 5000))
    s.bind(("", 5000))  # "" is the wildcard, as in the socket module
    assert s.getsockname() == ("0.0.0.0", 5000)


def test_unknown_limit_keywords_are_type_errors() -> None:
    with pytest.raises(TypeError):
        wspsan.Provider(max_backlogs=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        wspsan.Provider().device.set_limits(nope=1)  # type: ignore[call-arg]


def test_platform_socket_module_is_not_shadowed() -> None:
    assert socket.SOL_SOCKET != wspsan.SOL_SOCKET


def test_package_docstring_example_runs() -> None:
    import doctest

    assert doctest.testmod(wspsan, verbose=False).failed == 0


def test_a_socket_has_a_descriptor_and_no_fileno() -> None:
    # The descriptor is the provider's SOCKET value, no OS fd: selectors must refuse the socket
    # rather than wait on whatever file has that number.
    p = wspsan.Provider()
    with p.socket() as s:
        d = s.descriptor
        assert isinstance(d, int) and d % 4 == 0
        assert not hasattr(s, "fileno")
        with selectors.DefaultSelector() as sel, pytest.raises((TypeError, ValueError)):
            sel.register(s, selectors.EVENT_READ)  # type: ignore[arg-type]
        ev = wspsan.Event()
        with selectors.DefaultSelector() as sel:
            sel.register(ev, selectors.EVENT_READ)  # an Event is a real fd (eventfd)
    assert s.descriptor == d  # still readable after close


def _native_callables() -> list[tuple[str, Callable[..., object]]]:
    found: list[tuple[str, Callable[..., object]]] = []
    for module in (wspsan, wspsan.wsp):
        for name, value in vars(module).items():
            if callable(value) and getattr(value, "__module__", "").startswith("wspsan"):
                found.append((f"{module.__name__}.{name}", value))
            if isinstance(value, type) and value.__module__ == "wspsan":
                for attr, member in vars(value).items():
                    if callable(member):
                        found.append((f"{module.__name__}.{name}.{attr}", member))
    return found


def test_text_signatures_show_every_default() -> None:
    # help() shows `family=2`, not `family=...` (which pydoc prints as `family=Ellipsis`).
    checked = 0
    for name, obj in _native_callables():
        text = getattr(obj, "__text_signature__", None)
        if text is None:
            continue
        checked += 1
        assert "..." not in text, f"{name}{text}"
        inspect.signature(obj)  # every text signature parses
    assert checked > 40
    assert str(inspect.signature(wspsan.Provider.socket)) == "(self, /, family=2, type=1, proto=0)"
    assert "fabric_port=7470" in str(inspect.signature(wspsan.Provider))
    assert "addrlen=16" in str(inspect.signature(wspsan.wsp.WSPAccept))
    assert "family=Ellipsis" not in pydoc.render_doc(wspsan.Provider)
