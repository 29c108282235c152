//! No two modules of capi/src use each other, directly or around a circle: the layers lib.rs
//! lists (types up to startup) hold. tests/tools/crate_cycles.py draws the arrows.

use std::path::Path;
use std::process::Command;

#[test]
fn capi_modules_form_no_import_cycle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("../tests/tools/crate_cycles.py");
    let out = Command::new(std::env::var_os("PYTHON").unwrap_or_else(|| "python3".into()))
        .arg(&script)
        .arg(root.join("src"))
        .output()
        .expect("python3 runs tests/tools/crate_cycles.py");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "import cycles among capi/src modules:\n{report}");
    assert!(report.contains("no import cycle"), "{report}");
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    // The check itself: two modules that use each other are a cycle (exit status 1), and an
    // inline module's `super::` is its own file's business.
    let dir = std::env::temp_dir().join(format!("wspsan-crate-cycles-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\nmod b;\npub use a::f;\n").unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::b::g;\npub fn f() { g() }\n").unwrap();
    std::fs::write(dir.join("b.rs"), "pub fn g() { crate::f() }\n#[cfg(test)]\nmod t { use super::*; }\n").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/tools/crate_cycles.py");
    let run = |d: &Path| Command::new("python3").arg(&script).arg(d).output().expect("python3 runs");
    let out = run(&dir);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("a -> b -> a"));
    // b no longer reaches back up through the root's re-export: no cycle.
    std::fs::write(dir.join("b.rs"), "pub fn g() {}\n// crate::f() in a comment draws nothing\n").unwrap();
    let out = run(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    std::fs::remove_dir_all(&dir).unwrap();
}
