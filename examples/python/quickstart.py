"""The README's Python quick start (run by `make py-test`)."""

import wspsan

p = wspsan.Provider()  # an independent provider with its own loopback device
with p.socket() as server, p.socket() as client:
    server.bind(("127.0.0.1", 5000))
    server.listen(8)
    client.setblocking(False)
    print(client.connect_ex(("127.0.0.1", 5000), caller_data=b"alice"))  # 10035: queued

    def doorman(request: wspsan.ConditionRequest) -> int:
        request.callee_data = b"welcome, " + (request.caller_data or b"")
        return wspsan.CF_ACCEPT

    conn, peer = server.accept(doorman)
    print(peer, client.callee_data())  # ('127.0.0.1', 49152) b'welcome, alice'
    conn.close()
try:
    p.socket().connect(("127.0.0.1", 5001))
except ConnectionRefusedError as e:  # wspsan.ConnectRefusedError
    print(e.errno, e.strerror)  # .errno and .winerror hold the WSAE code
print(p.stats())
