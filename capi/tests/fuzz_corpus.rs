//! The committed fuzz corpus as a regression test: every input in
//! fuzz/corpus/capi_calls/ is decoded exactly as the cargo-fuzz target decodes it and replayed
//! through the same calls and checks (fuzz/fuzz_targets/capi_calls/calls.rs), on the stable
//! toolchain. A crash `make fuzz` finds goes into that directory and is replayed here for good.
// SPEC X2, X3, X4, A14, K1

#[allow(dead_code, clippy::all)]
#[path = "../../fuzz/fuzz_targets/capi_calls/calls.rs"]
mod calls;

use arbitrary::{Arbitrary, Unstructured};
use std::path::Path;

#[test]
fn every_committed_fuzz_input_replays_without_a_spec_violation() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/capi_calls");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 10, "the corpus is committed ({} inputs)", inputs.len());
    let (mut replayed, mut calls_made) = (0, 0);
    for path in &inputs {
        let bytes = std::fs::read(path).expect("a corpus file");
        // libfuzzer-sys decodes a typed input with arbitrary_take_rest and skips what fails.
        let Ok(ops) = Vec::<calls::Op>::arbitrary_take_rest(Unstructured::new(&bytes)) else { continue };
        calls_made += ops.len().min(200); // run_ops takes at most 200 steps
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        if let Err(panic) = std::panic::catch_unwind(|| calls::run_ops(ops)) {
            let msg =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("fuzz input {name}: {}", msg.unwrap_or_default());
        }
        replayed += 1;
    }
    assert!(replayed * 2 >= inputs.len(), "most inputs decode ({replayed} of {})", inputs.len());
    assert!(calls_made >= 10 * replayed, "the inputs are real call sequences ({calls_made} steps)");
}
