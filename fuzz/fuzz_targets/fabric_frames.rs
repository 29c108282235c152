//! cargo-fuzz target for the TCP fabric's frame decoder (SPEC F8, F10): the fuzzer's bytes are
//! what a peer sent down one fabric connection. Decoding must never panic or allocate past the
//! limits (F8: malformed, too long, unknown kinds are errors), and every frame that decodes must
//! encode back to the same bytes (F10: one meaning per frame; `decode_fabric_frames` asserts it).
//! The committed corpus fuzz/corpus/fabric_frames/ is replayed on the stable toolchain by
//! core/tests/fabric_corpus.rs.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    let _ = wspsan_core::decode_fabric_frames(bytes);
});
