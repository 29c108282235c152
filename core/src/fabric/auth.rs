//! The fabric key (SPEC F9): each side proves it holds the key by answering the other's
//! random challenge with HMAC-SHA256 over both challenges and its role. The key itself never
//! crosses the wire; proofs are compared in constant time (`Mac::verify_slice`).

use super::wire::{NONCE, PROOF};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Which end of a fabric connection a proof comes from: the side that opened it, or the side
/// that accepted it (so a proof cannot be reflected back to its sender).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Opener,
    Acceptor,
}

const LABEL: &[u8] = b"wspsan fabric v1 key proof";

fn mac(key: &[u8], role: Role, challenge: &[u8; NONCE], own: &[u8; NONCE]) -> HmacSha256 {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut m = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(LABEL);
    m.update(&[match role {
        Role::Opener => b'O',
        Role::Acceptor => b'A',
    }]);
    m.update(challenge);
    m.update(own);
    m
}

/// The proof `role` sends: an answer to the peer's `challenge`, bound to its own nonce.
pub(crate) fn prove(key: &[u8], role: Role, challenge: &[u8; NONCE], own: &[u8; NONCE]) -> [u8; PROOF] {
    mac(key, role, challenge, own).finalize().into_bytes().into()
}

/// Whether `proof` is what a holder of `key` in `role` answers to our `challenge`, the peer's
/// own nonce being `theirs`. Constant time.
pub(crate) fn verify(
    key: &[u8],
    role: Role,
    challenge: &[u8; NONCE],
    theirs: &[u8; NONCE],
    proof: &[u8; PROOF],
) -> bool {
    mac(key, role, challenge, theirs).verify_slice(proof).is_ok()
}

/// A fresh challenge from the kernel's random source.
pub(crate) fn nonce() -> std::io::Result<[u8; NONCE]> {
    use std::io::Read;
    let mut n = [0; NONCE];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut n)?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    // SPEC F9: the same key proves, another key or a reflected proof does not
    #[test]
    fn proofs_verify_only_with_the_same_key_and_role() {
        let (a, b) = (nonce().unwrap(), nonce().unwrap());
        assert_ne!(a, b);
        let p = prove(b"secret", Role::Opener, &b, &a);
        assert!(verify(b"secret", Role::Opener, &b, &a, &p));
        assert!(!verify(b"other", Role::Opener, &b, &a, &p));
        assert!(!verify(b"secret", Role::Acceptor, &b, &a, &p), "a reflected proof fails");
        assert!(!verify(b"secret", Role::Opener, &a, &b, &p));
    }
}
