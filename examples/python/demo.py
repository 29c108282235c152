"""wspsan Python demo: a server and its clients on the emulated SAN, told as a story.

    make demo-py      (sets up .venv, builds the module, runs this)

The server listens with a backlog of 2 and watches FD_ACCEPT on an event object; three clients
connect with caller data; the third is refused at once because the queue is full; the server's
condition function turns "mallory" away and welcomes the others with callee data; the
statistics close the story. The same story as examples/c/demo.c.
"""

from __future__ import annotations

import selectors
import threading

import wspsan

PORT = 5150
SERVER = ("127.0.0.1", PORT)


def doorman(request: wspsan.ConditionRequest) -> wspsan.CF:
    """The server's condition function: it sees who calls and what they sent, and answers."""
    name = (request.caller_data or b"(nobody)").decode()
    host, port = request.caller_address
    print(f'  [{request.callback_data}] condition function: request from {host}:{port} saying "{name}"')
    if name == "mallory":
        print(f"  [{request.callback_data}]   -> CF_REJECT (not on the list)")
        return wspsan.CF.REJECT
    request.callee_data = f"welcome, {name}".encode()
    print(f'  [{request.callback_data}]   -> CF_ACCEPT with callee data "{request.callee_data.decode()}"')
    return wspsan.CF.ACCEPT


def client_connect(provider: wspsan.Provider, name: str) -> wspsan.Socket:
    """A client: a non-blocking connect carrying its name as caller data."""
    s = provider.socket()
    s.event_select(wspsan.Event(), wspsan.FD_CONNECT)  # also makes it non-blocking
    try:
        s.connect(SERVER, caller_data=name.encode())
    except BlockingIOError:
        print(f"  [{name}] connect: queued, waiting for the server's answer (WSAEWOULDBLOCK)")
    except ConnectionRefusedError as e:
        print(f"  [{name}] connect: {e.strerror}")
    return s


def client_result(name: str, s: wspsan.Socket) -> None:
    """How a client's connect ended: FD_CONNECT with its error, and the callee data on success."""
    events = s.enum_network_events()
    code = events.error(wspsan.FD_CONNECT)
    if code is None:
        print(f"  [{name}] no answer yet")
    elif code != 0:
        print(f"  [{name}] FD_CONNECT: {wspsan.wsp.strerror(code)}")
    else:
        print(f'  [{name}] FD_CONNECT: connected; the server said "{s.callee_data().decode()}"')


def main() -> None:
    provider = wspsan.Provider()
    print(f"wspsan {wspsan.__version__}: a Winsock SAN provider on emulated SAN devices; this story: one device, alone\n")

    print(f"1. The server listens on {SERVER[0]}:{PORT} with a backlog of 2 and selects FD_ACCEPT.")
    server = provider.socket()
    server.bind(SERVER)
    server.listen(2)
    server_event = wspsan.Event()
    server.event_select(server_event, wspsan.FD_ACCEPT)
    selector = selectors.DefaultSelector()
    selector.register(server_event.fileno(), selectors.EVENT_READ)

    print("\n2. Three clients connect, each sending its name as caller data.")
    alice = client_connect(provider, "alice")
    state = "set: a request is queued" if server_event.is_set() else "not set"
    print(f"  [server] FD_ACCEPT event object is {state}")
    mallory = client_connect(provider, "mallory")
    carol = client_connect(provider, "carol")
    print("  (carol was refused at once: the queue already held 2 requests, the backlog)")
    carol.close()

    print("\n3. The server accepts while FD_ACCEPT says requests are queued.")
    accepted = []
    while selector.select(timeout=0):
        if wspsan.FD_ACCEPT not in server.enum_network_events(server_event):
            break
        print("  [server] FD_ACCEPT")
        try:
            conn, (host, port) = server.accept(doorman, callback_data="server")
        except wspsan.WSAError as e:
            print(f"  [server] accept: {e.strerror}")
        else:
            accepted.append(conn)
            print(f"  [server] accept: new socket {conn.descriptor:#x} connected to {host}:{port}")

    print("\n4. The clients learn their answers through FD_CONNECT.")
    client_result("alice", alice)
    client_result("mallory", mallory)

    print("\n5. Carol tries again, with a blocking connect this time (on her own thread).")

    def patient_client() -> None:
        s = provider.socket()
        reply = s.connect(SERVER, caller_data=b"carol")
        print(f'  [carol] blocking connect returned: connected; the server said "{reply.decode()}"')
        accepted.append(s)

    carol_thread = threading.Thread(target=patient_client)
    carol_thread.start()
    selector.select(timeout=5)  # the GIL is released while carol waits: the server runs on
    server.enum_network_events(server_event)
    conn, _ = server.accept(doorman, callback_data="server")
    carol_thread.join()
    accepted.append(conn)

    print("\n6. Statistics.")
    st = server.stats()
    print(
        f"  listener: queued {st.queued}, accepted {st.accepted}, rejected {st.rejected}, "
        f"refused (queue full) {st.refused_full}, queue length {st.queue_len}, backlog {st.backlog}"
    )
    dev = provider.stats()
    print(f"  device:   open sockets {dev.open_sockets}, pending requests {dev.pending}")

    selector.close()
    for s in [*accepted, alice, mallory, server]:
        s.close()
    print("\nDone.")


if __name__ == "__main__":
    main()
