"""A wspsan server and its clients in one asyncio loop (run by `make py-test`).

The server accepts with a condition function that admits callers by their caller data; each
client connects without blocking the loop, and one gives up (its task is cancelled), which
withdraws its request: the server's accept of it fails with AccessDeniedError (WSAEACCES).
"""

import asyncio

import wspsan
import wspsan.aio

ADDRESS = ("127.0.0.1", 5100)


def doorman(request: wspsan.ConditionRequest) -> int:
    name = request.caller_data or b""
    if name.startswith(b"friend"):
        request.callee_data = b"welcome, " + name
        return wspsan.CF_ACCEPT
    return wspsan.CF_REJECT


async def serve(listener: wspsan.Socket, expected: int) -> list[str]:
    seen: list[str] = []
    while len(seen) < expected:
        try:
            conn, peer = await wspsan.aio.accept(listener, doorman)
            seen.append(f"accepted {peer}")
            conn.close()
        except wspsan.WSAError as e:  # rejected (CF_REJECT) or withdrawn meanwhile
            seen.append(f"{type(e).__name__} for {e.address}")
    return seen


async def client(p: wspsan.Provider, name: bytes) -> str:
    with p.socket() as sock:
        try:
            return (await wspsan.aio.connect(sock, ADDRESS, caller_data=name)).decode()
        except ConnectionRefusedError:
            return f"{name.decode()}: refused"


async def main() -> None:
    with wspsan.Provider() as p:
        listener = p.socket()
        listener.bind(ADDRESS)
        listener.listen(8)
        # The one who gives up: its request waits in the queue until the task is cancelled.
        impatient = asyncio.create_task(client(p, b"friend-impatient"))
        await asyncio.sleep(0.01)
        impatient.cancel()
        clients = [client(p, name) for name in (b"friend-1", b"stranger", b"friend-2")]
        served, *answers = await asyncio.gather(serve(listener, 4), *clients)
        for line in served:
            print("server:", line)
        for answer in answers:
            print("client:", answer)


asyncio.run(main())
