//! The TCP fabric's frames (SPEC F8, F10; `docs/fabric-protocol.md` is the reference): every
//! frame is a 4-byte big-endian length, a kind byte and its fields. Decoding checks every length
//! against its limit before anything is allocated, and rejects anything the protocol does not
//! define: trailing bytes, unknown kinds, out-of-range lengths.

use crate::device::MAX_CONNECT_DATA;
use crate::socket::{FlowSpec, Qos};
use std::net::{Ipv4Addr, SocketAddrV4};

/// The protocol version this build speaks.
pub(crate) const VERSION: u8 = 1;
/// The first bytes of every HELLO.
pub(crate) const MAGIC: [u8; 4] = *b"WSPF";
/// The largest frame body (kind byte included): a REQUEST with the largest caller data and the
/// largest QoS provider-specific part, with room to spare.
pub(crate) const MAX_BODY: usize = 1 + 8 + 6 + 6 + 4 + MAX_CONNECT_DATA + 1 + 64 + 4 + MAX_CONNECT_DATA;
/// Bytes of the length prefix.
pub(crate) const LEN_BYTES: usize = 4;
/// Bytes of a HELLO nonce.
pub(crate) const NONCE: usize = 16;
/// Bytes of an AUTH proof (HMAC-SHA256).
pub(crate) const PROOF: usize = 32;

/// One frame of the fabric protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Frame {
    /// First frame each way: who speaks, whether it holds a key, how soon it declares a silent
    /// peer lost (so the other side pings often enough), and its challenge.
    Hello { version: u8, keyed: bool, liveness_ms: u32, nonce: [u8; NONCE] },
    /// Second frame each way when both hold a key: the answer to the other's challenge.
    Auth { proof: [u8; PROOF] },
    /// Liveness, sent when nothing else was sent for a while.
    Ping,
    /// A connect request (connector -> listener's device).
    Request(Request),
    /// The listener's accept took the request (listener -> connector), with its callee data.
    Accepted { id: u64, callee_data: Vec<u8> },
    /// The request failed at the listener's device with a Winsock error (refused, reset, ...).
    Refused { id: u64, code: u32 },
    /// The connector took the acceptance: both ends are connected (F6).
    Confirm { id: u64 },
    /// The connector gave up the request (closed, timed out) or could not take an acceptance.
    Withdraw { id: u64 },
    /// One end of the connection established by request `id` was closed (K3).
    Close { id: u64 },
}

/// The fields of a REQUEST frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) id: u64,
    pub(crate) caller: SocketAddrV4,
    pub(crate) callee: SocketAddrV4,
    pub(crate) caller_data: Vec<u8>,
    pub(crate) qos: Option<Qos>,
}

const HELLO: u8 = 0x01;
const AUTH: u8 = 0x02;
const PING: u8 = 0x03;
const REQUEST: u8 = 0x10;
const ACCEPTED: u8 = 0x11;
const REFUSED: u8 = 0x12;
const CONFIRM: u8 = 0x13;
const WITHDRAW: u8 = 0x14;
const CLOSE: u8 = 0x15;

/// Why bytes from a peer are not a frame (F8: the connection is closed and counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The length prefix is 0 or above [`MAX_BODY`].
    Length(u32),
    /// A kind byte the protocol does not define.
    Kind(u8),
    /// The body ends before its fields do.
    Truncated,
    /// Bytes left after the last field.
    Trailing,
    /// A field holds a value the protocol forbids (a data length above its limit, a bad flag).
    Field(&'static str),
}

impl Frame {
    /// Append the frame, length prefix included, to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; LEN_BYTES]);
        match self {
            Frame::Hello { version, keyed, liveness_ms, nonce } => {
                out.push(HELLO);
                out.extend_from_slice(&MAGIC);
                out.push(*version);
                out.push(u8::from(*keyed));
                out.extend_from_slice(&liveness_ms.to_be_bytes());
                out.extend_from_slice(nonce);
            }
            Frame::Auth { proof } => {
                out.push(AUTH);
                out.extend_from_slice(proof);
            }
            Frame::Ping => out.push(PING),
            Frame::Request(r) => {
                out.push(REQUEST);
                out.extend_from_slice(&r.id.to_be_bytes());
                put_addr(out, r.caller);
                put_addr(out, r.callee);
                put_bytes(out, &r.caller_data);
                match &r.qos {
                    None => out.push(0),
                    Some(q) => {
                        out.push(1);
                        for f in [&q.sending, &q.receiving] {
                            for v in flowspec_fields(f) {
                                out.extend_from_slice(&v.to_be_bytes());
                            }
                        }
                        put_bytes(out, &q.provider_specific);
                    }
                }
            }
            Frame::Accepted { id, callee_data } => {
                out.push(ACCEPTED);
                out.extend_from_slice(&id.to_be_bytes());
                put_bytes(out, callee_data);
            }
            Frame::Refused { id, code } => {
                out.push(REFUSED);
                out.extend_from_slice(&id.to_be_bytes());
                out.extend_from_slice(&code.to_be_bytes());
            }
            Frame::Confirm { id } => put_id(out, CONFIRM, *id),
            Frame::Withdraw { id } => put_id(out, WITHDRAW, *id),
            Frame::Close { id } => put_id(out, CLOSE, *id),
        }
        let body = (out.len() - start - LEN_BYTES) as u32;
        out[start..start + LEN_BYTES].copy_from_slice(&body.to_be_bytes());
    }

    /// The length of the body that follows a 4-byte prefix, checked against [`MAX_BODY`] before
    /// anything is read or allocated for it.
    pub(crate) fn body_len(prefix: [u8; LEN_BYTES]) -> Result<usize, WireError> {
        let n = u32::from_be_bytes(prefix);
        if n == 0 || n as usize > MAX_BODY {
            return Err(WireError::Length(n));
        }
        Ok(n as usize)
    }

    /// Decode one frame body (kind byte first, no length prefix).
    pub(crate) fn decode(body: &[u8]) -> Result<Frame, WireError> {
        let mut r = Reader { rest: body };
        let frame = match r.u8()? {
            HELLO => {
                if r.take(4)? != MAGIC {
                    return Err(WireError::Field("magic"));
                }
                let version = r.u8()?;
                let keyed = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(WireError::Field("keyed")),
                };
                let liveness_ms = r.u32()?;
                if liveness_ms == 0 {
                    return Err(WireError::Field("liveness"));
                }
                Frame::Hello { version, keyed, liveness_ms, nonce: r.array()? }
            }
            AUTH => Frame::Auth { proof: r.array()? },
            PING => Frame::Ping,
            REQUEST => {
                let id = r.u64()?;
                let caller = r.addr()?;
                let callee = r.addr()?;
                let caller_data = r.bytes()?;
                let qos = match r.u8()? {
                    0 => None,
                    1 => {
                        let sending = r.flowspec()?;
                        let receiving = r.flowspec()?;
                        Some(Qos { sending, receiving, provider_specific: r.bytes()? })
                    }
                    _ => return Err(WireError::Field("qos flag")),
                };
                Frame::Request(Request { id, caller, callee, caller_data, qos })
            }
            ACCEPTED => Frame::Accepted { id: r.u64()?, callee_data: r.bytes()? },
            REFUSED => Frame::Refused { id: r.u64()?, code: r.u32()? },
            CONFIRM => Frame::Confirm { id: r.u64()? },
            WITHDRAW => Frame::Withdraw { id: r.u64()? },
            CLOSE => Frame::Close { id: r.u64()? },
            k => return Err(WireError::Kind(k)),
        };
        if !r.rest.is_empty() {
            return Err(WireError::Trailing);
        }
        Ok(frame)
    }
}

fn put_id(out: &mut Vec<u8>, kind: u8, id: u64) {
    out.push(kind);
    out.extend_from_slice(&id.to_be_bytes());
}

fn put_addr(out: &mut Vec<u8>, a: SocketAddrV4) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

/// Data fields are a 4-byte length and the bytes; the encoder is only given data within
/// [`MAX_CONNECT_DATA`] (the device clamps its limits to it).
fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn flowspec_fields(f: &FlowSpec) -> [u32; 8] {
    [
        f.token_rate,
        f.token_bucket_size,
        f.peak_bandwidth,
        f.latency,
        f.delay_variation,
        f.service_type,
        f.max_sdu_size,
        f.minimum_policed_size,
    ]
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn addr(&mut self) -> Result<SocketAddrV4, WireError> {
        let ip = Ipv4Addr::from(self.array::<4>()?);
        let port = u16::from_be_bytes(self.array()?);
        Ok(SocketAddrV4::new(ip, port))
    }

    /// A length-prefixed byte field: the length is checked against [`MAX_CONNECT_DATA`] and
    /// against the bytes actually present before the copy is allocated.
    fn bytes(&mut self) -> Result<Vec<u8>, WireError> {
        let n = self.u32()? as usize;
        if n > MAX_CONNECT_DATA {
            return Err(WireError::Field("data length"));
        }
        Ok(self.take(n)?.to_vec())
    }

    fn flowspec(&mut self) -> Result<FlowSpec, WireError> {
        let mut v = [0u32; 8];
        for x in &mut v {
            *x = self.u32()?;
        }
        Ok(FlowSpec {
            token_rate: v[0],
            token_bucket_size: v[1],
            peak_bandwidth: v[2],
            latency: v[3],
            delay_variation: v[4],
            service_type: v[5],
            max_sdu_size: v[6],
            minimum_policed_size: v[7],
        })
    }
}

/// Decode every frame in `bytes` (length prefixes included) as a receiver would, stopping at the
/// first error; for the fuzz target and the corpus replay. Returns how many frames decoded.
pub fn decode_stream(bytes: &[u8]) -> Result<usize, String> {
    let mut rest = bytes;
    let mut n = 0;
    while rest.len() >= LEN_BYTES {
        let prefix: [u8; LEN_BYTES] = rest[..LEN_BYTES].try_into().map_err(|_| "prefix")?;
        let len = Frame::body_len(prefix).map_err(|e| format!("{e:?}"))?;
        let Some(body) = rest.get(LEN_BYTES..LEN_BYTES + len) else { break };
        let frame = Frame::decode(body).map_err(|e| format!("{e:?}"))?;
        // What decodes must encode back to the same bytes: one meaning per frame (F10).
        let mut again = Vec::new();
        frame.encode(&mut again);
        assert_eq!(&again[LEN_BYTES..], body, "a decoded frame re-encodes to its own bytes");
        rest = &rest[LEN_BYTES + len..];
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(f: Frame) {
        let mut out = Vec::new();
        f.encode(&mut out);
        let len = Frame::body_len(out[..4].try_into().unwrap()).unwrap();
        assert_eq!(len, out.len() - 4);
        assert_eq!(Frame::decode(&out[4..]), Ok(f));
    }

    // SPEC F10: every frame kind encodes and decodes to itself
    #[test]
    fn every_frame_round_trips() {
        let a = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 49152);
        let b = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 3), 5000);
        let qos = Qos {
            sending: FlowSpec { token_rate: 1, latency: 7, ..FlowSpec::default() },
            receiving: FlowSpec { max_sdu_size: 9, ..FlowSpec::default() },
            provider_specific: b"ps".to_vec(),
        };
        roundtrip(Frame::Hello { version: VERSION, keyed: true, liveness_ms: 3000, nonce: [7; NONCE] });
        roundtrip(Frame::Auth { proof: [1; PROOF] });
        roundtrip(Frame::Ping);
        roundtrip(Frame::Request(Request { id: 1, caller: a, callee: b, caller_data: vec![], qos: None }));
        roundtrip(Frame::Request(Request {
            id: u64::MAX,
            caller: a,
            callee: b,
            caller_data: vec![3; 300],
            qos: Some(qos),
        }));
        roundtrip(Frame::Accepted { id: 2, callee_data: b"welcome".to_vec() });
        roundtrip(Frame::Refused { id: 3, code: 10061 });
        roundtrip(Frame::Confirm { id: 4 });
        roundtrip(Frame::Withdraw { id: 5 });
        roundtrip(Frame::Close { id: 6 });
    }

    // SPEC F8: lengths are checked before allocation; anything undefined is an error
    #[test]
    fn malformed_bodies_are_errors() {
        assert_eq!(Frame::body_len([0; 4]), Err(WireError::Length(0)));
        assert_eq!(Frame::body_len(u32::MAX.to_be_bytes()), Err(WireError::Length(u32::MAX)));
        assert!(Frame::body_len((MAX_BODY as u32).to_be_bytes()).is_ok());
        assert_eq!(Frame::decode(&[0x7f]), Err(WireError::Kind(0x7f)));
        assert_eq!(Frame::decode(&[PING, 0]), Err(WireError::Trailing));
        assert_eq!(Frame::decode(&[CONFIRM, 0, 0]), Err(WireError::Truncated));
        assert_eq!(Frame::decode(&[HELLO, b'X', b'S', b'P', b'F', 1, 0]), Err(WireError::Field("magic")));
        let mut no_liveness = vec![HELLO, b'W', b'S', b'P', b'F', 1, 0, 0, 0, 0, 0];
        no_liveness.extend_from_slice(&[0; NONCE]);
        assert_eq!(Frame::decode(&no_liveness), Err(WireError::Field("liveness")));
        let mut huge = vec![ACCEPTED];
        huge.extend_from_slice(&7u64.to_be_bytes());
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Frame::decode(&huge), Err(WireError::Field("data length")));
        let mut short = vec![ACCEPTED];
        short.extend_from_slice(&7u64.to_be_bytes());
        short.extend_from_slice(&100u32.to_be_bytes());
        short.extend_from_slice(&[0; 10]);
        assert_eq!(Frame::decode(&short), Err(WireError::Truncated), "a length beyond the body");
        assert!(decode_stream(&[0, 0, 0, 1, PING, 0, 0, 0, 1, PING]).is_ok());
        assert!(decode_stream(&[0, 0, 0, 2, PING, 0]).is_err());
    }
}
