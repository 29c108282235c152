//! Addresses as the `socket` module spells them: `(host, port)` tuples with dotted IPv4 text
//! (parsing them is `args`' job).

use std::net::{Ipv4Addr, SocketAddrV4};

/// An address to `(host, port)`.
pub(crate) fn to_tuple(a: SocketAddrV4) -> (String, u16) {
    (a.ip().to_string(), a.port())
}

/// An address as Python prints `(host, port)`.
pub(crate) fn repr(a: SocketAddrV4) -> String {
    format!("('{}', {})", a.ip(), a.port())
}

/// NIC addresses as Python prints a list of strings.
pub(crate) fn repr_list(ips: &[Ipv4Addr]) -> String {
    let items: Vec<String> = ips.iter().map(|ip| format!("'{ip}'")).collect();
    format!("[{}]", items.join(", "))
}
