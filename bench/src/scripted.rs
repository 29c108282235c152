//! A fabric peer scripted by hand (docs/fabric-protocol.md, no key), for case 8's split of a
//! fabric pair into its two halves: a scripted listener side that answers every REQUEST with
//! ACCEPTED on the thread that read it (so the client's device is measured against a server with
//! no thread hand-off and no engine), and a scripted connector side that writes REQUEST, reads
//! ACCEPTED and writes CONFIRM on the calling thread (so the server's device is measured
//! against a client with none). Either is the floor's exchange with one real device in it.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

const HELLO: u8 = 0x01;
const PING: u8 = 0x03;
const REQUEST: u8 = 0x10;
const ACCEPTED: u8 = 0x11;
const CONFIRM: u8 = 0x13;

/// The liveness a scripted peer announces: the devices' own (so either side pings as a device
/// pair would). The listener side echoes every PING; the connector side is opened per run.
const LIVENESS_MS: u32 = wspsan_core::DEFAULT_LIVENESS.as_millis() as u32;

fn frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut f = ((body.len() + 1) as u32).to_be_bytes().to_vec();
    f.push(kind);
    f.extend_from_slice(body);
    f
}

fn hello() -> Vec<u8> {
    let mut b = b"WSPF".to_vec();
    b.extend_from_slice(&[1, 0]); // version 1, no key
    b.extend_from_slice(&LIVENESS_MS.to_be_bytes());
    b.extend_from_slice(&[7; 16]); // the nonce matters only with a key
    frame(HELLO, &b)
}

fn id_frame(kind: u8, id: u64) -> Vec<u8> {
    frame(kind, &id.to_be_bytes())
}

fn addr(out: &mut Vec<u8>, a: SocketAddrV4) {
    out.extend_from_slice(&a.ip().octets());
    out.extend_from_slice(&a.port().to_be_bytes());
}

/// One frame: its kind and the body after the kind byte.
fn read_frame(r: &mut impl BufRead) -> io::Result<(u8, Vec<u8>)> {
    let mut len = [0; 4];
    r.read_exact(&mut len)?;
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > 1 << 18 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("frame length {n}")));
    }
    let mut body = vec![0; n];
    r.read_exact(&mut body)?;
    let kind = body.remove(0);
    Ok((kind, body))
}

fn id_of(body: &[u8]) -> io::Result<u64> {
    let b: [u8; 8] = body.get(..8).and_then(|b| b.try_into().ok()).ok_or(io::ErrorKind::InvalidData)?;
    Ok(u64::from_be_bytes(b))
}

/// The scripted listener side: accept fabric connections on `listener` (one at a time) and
/// answer every REQUEST with ACCEPTED at once, every PING with a PING; CONFIRM, CLOSE and
/// WITHDRAW need no answer. Runs until the listener fails.
pub fn serve(listener: TcpListener) {
    for s in listener.incoming() {
        let Ok(s) = s else { continue };
        let _ = answer_requests(s);
    }
}

fn answer_requests(s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    let mut w = s.try_clone()?;
    let mut r = BufReader::new(s);
    w.write_all(&hello())?;
    loop {
        let (kind, body) = read_frame(&mut r)?;
        match kind {
            REQUEST => {
                let mut ok = id_of(&body)?.to_be_bytes().to_vec();
                ok.extend_from_slice(&0u32.to_be_bytes()); // no callee data
                w.write_all(&frame(ACCEPTED, &ok))?;
            }
            PING => w.write_all(&frame(PING, &[]))?,
            _ => {}
        }
    }
}

/// The scripted connector side: one fabric connection to a device, requests sent by hand.
pub struct Connector {
    w: TcpStream,
    r: BufReader<TcpStream>,
    caller: SocketAddrV4,
    callee: SocketAddrV4,
    next_id: u64,
}

impl Connector {
    /// Open the fabric connection to the device at `fabric` and exchange HELLOs; requests will
    /// name `caller` and go to the listener at `callee`.
    pub fn open(fabric: SocketAddrV4, caller: SocketAddrV4, callee: SocketAddrV4, within: Duration) -> Connector {
        let s = TcpStream::connect_timeout(&fabric.into(), within).expect("connect to the server device's fabric port");
        s.set_nodelay(true).expect("TCP_NODELAY");
        s.set_read_timeout(Some(within)).expect("SO_RCVTIMEO");
        s.set_write_timeout(Some(within)).expect("SO_SNDTIMEO");
        let mut w = s.try_clone().expect("clone the stream");
        w.write_all(&hello()).expect("HELLO");
        let mut r = BufReader::new(s);
        let (kind, _) = read_frame(&mut r).expect("the device's HELLO");
        assert_eq!(kind, HELLO, "HELLO first");
        Connector { w, r, caller, callee, next_id: 1 }
    }

    /// One exchange: REQUEST, wait for its ACCEPTED (the device's CLOSE frames and PINGs are
    /// skipped), CONFIRM.
    pub fn exchange(&mut self) {
        let id = self.next_id;
        self.next_id += 1;
        let mut b = id.to_be_bytes().to_vec();
        addr(&mut b, self.caller);
        addr(&mut b, self.callee);
        b.extend_from_slice(&[0, 0, 0, 0, 0]); // no caller data, no QoS
        self.w.write_all(&frame(REQUEST, &b)).expect("REQUEST");
        loop {
            let (kind, body) = read_frame(&mut self.r).expect("the device's answer");
            if kind == ACCEPTED {
                assert_eq!(id_of(&body).expect("an id"), id, "ACCEPTED for the request sent");
                break;
            }
            assert!(kind != 0x12, "the device refused request {id}: {body:?}");
        }
        self.w.write_all(&id_frame(CONFIRM, id)).expect("CONFIRM");
    }
}
