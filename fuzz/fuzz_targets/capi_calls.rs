//! cargo-fuzz target: the fuzzer's bytes, decoded with `arbitrary`, are a sequence of
//! C ABI calls; the calls and their checks live in capi_calls/calls.rs, which
//! capi/tests/fuzz_corpus.rs also replays over the committed corpus on the stable toolchain.
#![no_main]

#[path = "capi_calls/calls.rs"]
mod calls;

libfuzzer_sys::fuzz_target!(|ops: Vec<calls::Op>| calls::run_ops(ops));
