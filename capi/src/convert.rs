//! Conversions between the C layouts of the ABI and the engine's types, shared by the exports
//! and by the Python module (`wspsan.wsp`), which builds the same C structures to call them.
//! Plain Rust functions: nothing here is exported to C.

use crate::types::{DWORD, FLOWSPEC, QOS, WSABUF};
use std::net::{Ipv4Addr, SocketAddrV4};
use wspsan_core::{FlowSpec, Qos};

/// A pointer to the value, or NULL.
pub fn nullable<T>(v: &mut Option<T>) -> *mut T {
    v.as_mut().map_or(std::ptr::null_mut(), |v| v as *mut T)
}

/// An address as the platform's `struct sockaddr_in`.
pub fn sockaddr_in(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr { s_addr: u32::from(*a.ip()).to_be() },
        sin_zero: [0; 8],
    }
}

/// The address and port of a `struct sockaddr_in` (its family is not looked at).
pub fn socket_addr(sin: &libc::sockaddr_in) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)), u16::from_be(sin.sin_port))
}

/// The bytes a WSABUF describes: empty for `len` 0, `None` for a NULL `buf` with a length.
///
/// # Safety
/// A non-NULL `buf` points at `len` readable bytes that stay valid and unchanged for `'a`.
pub unsafe fn wsabuf_slice<'a>(b: &WSABUF) -> Option<&'a [u8]> {
    if b.len == 0 {
        return Some(&[]);
    }
    if b.buf.is_null() {
        return None;
    }
    // SAFETY: as the caller promises.
    Some(unsafe { std::slice::from_raw_parts(b.buf.cast::<u8>(), b.len as usize) })
}

/// A WSABUF over `bytes` (`buf` NULL when empty).
pub fn wsabuf_over(bytes: &mut [u8]) -> WSABUF {
    WSABUF {
        len: bytes.len() as DWORD,
        buf: if bytes.is_empty() { std::ptr::null_mut() } else { bytes.as_mut_ptr().cast() },
    }
}

// FLOWSPEC is written out in types.rs for cbindgen; both conversions come from the engine's
// field list, which names each field's Windows name: struct literals naming every field, so the
// two structs cannot drift apart without a compile error.
macro_rules! flowspec_conversions {
    ($($(#[$fm:meta])* $f:ident ($w:ident): $t:ty,)*) => {
        fn flowspec_from_c(f: &FLOWSPEC) -> FlowSpec {
            FlowSpec { $($f: f.$w,)* }
        }

        fn flowspec_to_c(f: &FlowSpec) -> FLOWSPEC {
            FLOWSPEC { $($w: f.$f,)* }
        }
    };
}
wspsan_core::for_each_flowspec_field!(flowspec_conversions! {});

/// A C `QOS` as the engine takes it (`ProviderSpecific` copied), or `None` when
/// `ProviderSpecific.buf` is NULL with a non-zero length.
///
/// # Safety
/// `ProviderSpecific` describes readable bytes, as [`wsabuf_slice`] asks.
pub unsafe fn qos_from_c(q: &QOS) -> Option<Qos> {
    Some(Qos {
        sending: flowspec_from_c(&q.SendingFlowspec),
        receiving: flowspec_from_c(&q.ReceivingFlowspec),
        // SAFETY: the caller's QOS describes its own buffer.
        provider_specific: unsafe { wsabuf_slice(&q.ProviderSpecific) }?.to_vec(),
    })
}

/// The engine's QoS as a C `QOS`; `ProviderSpecific` points into `q`, so `q` must outlive every
/// use of the result.
pub fn qos_to_c(q: &mut Qos) -> QOS {
    QOS {
        SendingFlowspec: flowspec_to_c(&q.sending),
        ReceivingFlowspec: flowspec_to_c(&q.receiving),
        ProviderSpecific: wsabuf_over(&mut q.provider_specific),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_and_addresses_round_trip() {
        let flow = FlowSpec {
            token_rate: 1,
            token_bucket_size: 2,
            peak_bandwidth: 3,
            latency: 4,
            delay_variation: 5,
            service_type: 6,
            max_sdu_size: 7,
            minimum_policed_size: 8,
        };
        let original = Qos { sending: flow, receiving: FlowSpec::default(), provider_specific: b"ps".to_vec() };
        let mut copy = original.clone();
        let c = qos_to_c(&mut copy);
        // SAFETY: c points into `copy`, alive here.
        assert_eq!(unsafe { qos_from_c(&c) }, Some(original));
        let bad = WSABUF { len: 3, buf: std::ptr::null_mut() };
        // SAFETY: a NULL buf is never read.
        assert_eq!(unsafe { wsabuf_slice(&bad) }, None);
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), 4567);
        assert_eq!(socket_addr(&sockaddr_in(a)), a);
        assert!(nullable::<u8>(&mut None).is_null());
    }

    /// FLOWSPEC has the engine list's fields in the list's order, all of them (eight ULONGs).
    #[test]
    fn flowspec_follows_the_engines_list() {
        macro_rules! offsets {
            ($($(#[$fm:meta])* $f:ident ($w:ident): $t:ty,)*) => {
                [$(std::mem::offset_of!(FLOWSPEC, $w)),*]
            };
        }
        let offsets = wspsan_core::for_each_flowspec_field!(offsets! {});
        assert_eq!(offsets.to_vec(), (0..8).map(|i| i * 4).collect::<Vec<_>>());
    }
}
