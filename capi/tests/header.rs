//! include/wspsan.h is generated from this crate by cbindgen and checked in: this test fails
//! when the checked-in header differs from a fresh generation. `make header` (which sets
//! WSPSAN_WRITE_HEADER=1) rewrites it.

use std::path::Path;

/// The version macros, from Cargo.toml (the only place the version is written).
fn version_macros() -> String {
    format!(
        "\n/* Major version of the library (from Cargo.toml). */\n#define WSPSAN_VERSION_MAJOR {}\n\
         /* Minor version of the library. */\n#define WSPSAN_VERSION_MINOR {}\n\
         /* Patch version of the library. */\n#define WSPSAN_VERSION_PATCH {}\n\
         /* The version as a string; wspsan_version() returns the same. */\n\
         #define WSPSAN_VERSION_STRING \"{}\"\n",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

fn generate() -> String {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("capi/cbindgen.toml is readable");
    let after = config.after_includes.take().unwrap_or_default();
    config.after_includes = Some(format!("{}{after}", version_macros()));
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn checked_in_header_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/wspsan.h");
    let fresh = generate();
    if std::env::var_os("WSPSAN_WRITE_HEADER").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(current == fresh, "include/wspsan.h is not what capi/src generates: run `make header` and commit it");
}

/// The longest line the header may have: doc comments are wrapped in capi/src so that the
/// header reads in a terminal and a side-by-side diff.
const MAX_HEADER_LINE: usize = 120;

#[test]
fn header_lines_are_short_and_it_declares_no_test_hook() {
    let header = generate();
    let long: Vec<String> = header
        .lines()
        .enumerate()
        .filter(|(_, line)| line.chars().count() > MAX_HEADER_LINE)
        .map(|(i, line)| format!("line {}: {} characters: {line}", i + 1, line.chars().count()))
        .collect();
    assert!(long.is_empty(), "wrap the Rust doc comments these come from:\n{}", long.join("\n"));
    // The test hook is exported only by the C tests' build of the library (feature test-hooks).
    assert!(!header.contains("wspsan_test_"), "the installed header declares no test hook");
}
