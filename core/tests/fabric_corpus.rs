//! The committed corpus of the fabric_frames fuzz target (fuzz/fuzz_targets/fabric_frames.rs)
//! as a regression test on the stable toolchain: every input in fuzz/corpus/fabric_frames/ goes
//! through the frame decoder exactly as the fuzz target feeds it, and must not panic (the
//! decoder itself asserts that whatever decodes re-encodes to the same bytes). The hand-written
//! seeds (fuzz/fabric_frames_seeds.py) also say what they must decode to: `seed-ok-*` decode,
//! `seed-bad-*` are refused, `seed-partial-*` decode up to the frame that has not arrived.
// SPEC F8 (bad input from the network is an error, never a crash or an allocation past the
// limits), F10 (every frame has one encoding)

use std::path::Path;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/fabric_frames");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    inputs.sort();
    inputs
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("a corpus file"))
        })
        .collect()
}

fn decode(name: &str, bytes: &[u8]) -> Result<usize, String> {
    match std::panic::catch_unwind(|| wspsan_core::decode_fabric_frames(bytes)) {
        Ok(result) => result,
        Err(panic) => {
            let msg =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("fuzz input {name}: {}", msg.unwrap_or_default())
        }
    }
}

// SPEC F8, F10: no committed input panics the decoder
#[test]
fn every_committed_fabric_input_decodes_without_a_panic() {
    let inputs = corpus();
    assert!(inputs.len() >= 30, "the corpus is committed ({} inputs)", inputs.len());
    let (mut frames, mut refused) = (0, 0);
    for (name, bytes) in &inputs {
        match decode(name, bytes) {
            Ok(n) => frames += n,
            Err(_) => refused += 1,
        }
    }
    assert!(frames >= inputs.len() / 2, "the inputs hold real frames ({frames} decoded)");
    assert!(refused >= 10, "and malformed ones ({refused} refused)");
}

// SPEC F8, F10: the hand-written seeds decode to what they were written as
#[test]
fn the_seeds_decode_as_written() {
    let inputs = corpus();
    let mut seen = [0; 3];
    for (name, bytes) in &inputs {
        let result = decode(name, bytes);
        if name.starts_with("seed-ok-") {
            assert!(matches!(result, Ok(n) if n >= 1), "{name} decodes: {result:?}");
            seen[0] += 1;
        } else if name.starts_with("seed-bad-") {
            assert!(result.is_err(), "{name} is refused: {result:?}");
            seen[1] += 1;
        } else if name.starts_with("seed-partial-") {
            assert_eq!(result, Ok(1), "{name}: the whole frame before the partial one");
            seen[2] += 1;
        }
    }
    assert!(seen[0] >= 19 && seen[1] >= 18 && seen[2] >= 2, "seeds ok/bad/partial: {seen:?}");
    // a valid frame of every kind (HELLO, AUTH, PING, REQUEST with and without data and QoS,
    // ACCEPTED, REFUSED, CONFIRM, WITHDRAW, CLOSE)
    for kind in [
        "hello",
        "auth",
        "ping",
        "request",
        "request-data",
        "request-qos",
        "request-data-qos",
        "accepted",
        "refused",
        "confirm",
        "withdraw",
        "close",
    ] {
        let name = format!("seed-ok-{kind}");
        assert!(inputs.iter().any(|(n, _)| *n == name), "{name} is in the corpus");
    }
}

// SPEC F8: the decoder's limits hold for inputs made here, not only the committed ones
#[test]
fn lengths_are_refused_before_anything_is_read() {
    // a prefix above the limit is refused even though no body follows
    assert!(wspsan_core::decode_fabric_frames(&u32::MAX.to_be_bytes()).is_err());
    assert!(wspsan_core::decode_fabric_frames(&[0, 0, 0, 0]).is_err());
    // fewer bytes than a prefix: nothing has arrived yet
    assert_eq!(wspsan_core::decode_fabric_frames(&[0, 0, 0]), Ok(0));
    assert_eq!(wspsan_core::decode_fabric_frames(&[]), Ok(0));
    // a body announced at the limit that has not arrived is waited for, not allocated
    let max = 1 + 8 + 6 + 6 + 4 + wspsan_core::MAX_CONNECT_DATA + 1 + 64 + 4 + wspsan_core::MAX_CONNECT_DATA;
    assert_eq!(wspsan_core::decode_fabric_frames(&(max as u32).to_be_bytes()), Ok(0));
    assert!(wspsan_core::decode_fabric_frames(&(max as u32 + 1).to_be_bytes()).is_err());
}
