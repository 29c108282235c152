#!/usr/bin/env python3
"""Write the seed inputs of the fabric_frames fuzz target (SPEC F8, F10) into
fuzz/corpus/fabric_frames/: one valid frame of every kind, a few whole conversations, and
malformed frames of every class the decoder rejects. An encoder written from the frame format
alone (docs/fabric-protocol.md), independent of the Rust one in core/src/fabric/wire.rs.

    python3 fuzz/fabric_frames_seeds.py

Names: seed-ok-* must decode without error, seed-bad-* must be refused, seed-partial-* end
inside a frame (what arrived so far decodes). core/tests/fabric_corpus.rs checks that.
"""
import os
import struct

HELLO, AUTH, PING = 0x01, 0x02, 0x03
REQUEST, ACCEPTED, REFUSED, CONFIRM, WITHDRAW, CLOSE = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15
MAX_CONNECT_DATA = 65536
MAX_BODY = 1 + 8 + 6 + 6 + 4 + MAX_CONNECT_DATA + 1 + 64 + 4 + MAX_CONNECT_DATA


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def addr(ip: str, port: int) -> bytes:
    return bytes(int(x) for x in ip.split(".")) + struct.pack(">H", port)


def data(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def hello(keyed: bool, liveness_ms: int = 3000, nonce: bytes = bytes(range(16)), version: int = 1) -> bytes:
    return bytes([HELLO]) + b"WSPF" + bytes([version, int(keyed)]) + struct.pack(">I", liveness_ms) + nonce


def auth(proof: bytes = bytes(range(32, 64))) -> bytes:
    return bytes([AUTH]) + proof


def qos(sending, receiving, provider_specific: bytes) -> bytes:
    return b"\x01" + struct.pack(">8I", *sending) + struct.pack(">8I", *receiving) + data(provider_specific)


def request(rid: int, caller_data: bytes = b"", q: bytes = b"\x00",
            caller=("127.0.1.2", 49152), callee=("127.0.1.1", 5000)) -> bytes:
    return bytes([REQUEST]) + struct.pack(">Q", rid) + addr(*caller) + addr(*callee) + data(caller_data) + q


def accepted(rid: int, callee_data: bytes = b"") -> bytes:
    return bytes([ACCEPTED]) + struct.pack(">Q", rid) + data(callee_data)


def refused(rid: int, code: int) -> bytes:
    return bytes([REFUSED]) + struct.pack(">QI", rid, code)


def with_id(kind: int, rid: int) -> bytes:
    return bytes([kind]) + struct.pack(">Q", rid)


QOS = qos((1000, 2000, 3000, 7, 0, 1, 1500, 64), (0, 0, 0, 0, 0, 0, 9, 0), b"ps")

SEEDS = {
    # one valid frame of every kind
    "seed-ok-hello": frame(hello(False)),
    "seed-ok-hello-keyed": frame(hello(True)),
    "seed-ok-auth": frame(auth()),
    "seed-ok-ping": frame(bytes([PING])),
    "seed-ok-request": frame(request(1)),
    "seed-ok-request-data": frame(request(2, b"alice")),
    "seed-ok-request-qos": frame(request(3, q=QOS)),
    "seed-ok-request-data-qos": frame(request(0xFFFFFFFFFFFFFFFF, b"\x00\xff" * 150, QOS)),
    "seed-ok-accepted": frame(accepted(2)),
    "seed-ok-accepted-data": frame(accepted(2, b"welcome")),
    "seed-ok-refused": frame(refused(3, 10061)),
    "seed-ok-confirm": frame(with_id(CONFIRM, 4)),
    "seed-ok-withdraw": frame(with_id(WITHDRAW, 5)),
    "seed-ok-close": frame(with_id(CLOSE, 6)),
    # the version is the receiver's to judge (the handshake refuses it), not the codec's
    "seed-ok-hello-v2": frame(hello(False, version=2)),
    "seed-ok-hello-liveness-1ms": frame(hello(True, liveness_ms=1)),
    # conversations as a device receives them
    "seed-ok-listener-side": frame(hello(False)) + frame(request(7, b"hi")) + frame(bytes([PING]))
    + frame(with_id(CONFIRM, 7)) + frame(with_id(CLOSE, 7)),
    "seed-ok-connector-side": frame(hello(True)) + frame(auth()) + frame(accepted(7, b"yo"))
    + frame(refused(8, 10061)) + frame(with_id(CLOSE, 7)),
    "seed-ok-withdrawn": frame(hello(False)) + frame(request(9, q=QOS)) + frame(with_id(WITHDRAW, 9)),
    # malformed: lengths
    "seed-bad-length-zero": struct.pack(">I", 0) + bytes([PING]),
    "seed-bad-length-max": struct.pack(">I", 0xFFFFFFFF) + bytes([PING]),
    "seed-bad-length-above-limit": struct.pack(">I", MAX_BODY + 1) + bytes([PING]),
    # malformed: kinds and shapes
    "seed-bad-kind": frame(b"\x7f"),
    "seed-bad-kind-zero": frame(b"\x00" * 9),
    "seed-bad-trailing": frame(bytes([PING, 0])),
    "seed-bad-truncated-confirm": frame(bytes([CONFIRM, 0, 0])),
    "seed-bad-magic": frame(bytes([HELLO]) + b"XSPF" + hello(False)[5:]),
    "seed-bad-keyed-flag": frame(hello(False)[:6] + b"\x02" + hello(False)[7:]),
    "seed-bad-liveness-zero": frame(hello(False, liveness_ms=0)),
    "seed-bad-old-hello": frame(hello(False)[:7] + bytes(16)),  # a HELLO without liveness_ms
    "seed-bad-short-nonce": frame(hello(False)[:-1]),
    "seed-bad-qos-flag": frame(request(1, q=b"\x02")),
    "seed-bad-qos-truncated": frame(request(1, q=QOS[:20])),
    "seed-bad-data-length-huge": frame(accepted(7)[:9] + struct.pack(">I", 0xFFFFFFFF)),
    "seed-bad-data-length-above-limit": frame(request(1)[:21] + struct.pack(">I", MAX_CONNECT_DATA + 1) + b"\x00"),
    "seed-bad-data-beyond-body": frame(accepted(7)[:9] + struct.pack(">I", 100) + bytes(10)),
    "seed-bad-after-good": frame(hello(False)) + frame(request(1)) + frame(bytes([PING, PING])),
    # a frame that has not fully arrived: what came before it decodes
    "seed-partial-prefix": frame(bytes([PING])) + b"\x00\x00",
    "seed-partial-body": frame(bytes([PING])) + frame(request(1, b"abc"))[:-3],
}


def main() -> None:
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fabric_frames")
    os.makedirs(out, exist_ok=True)
    for name, b in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(b)
    print(f"{len(SEEDS)} seeds in {out}")


if __name__ == "__main__":
    main()
