//! The shared library's SONAME, the name a program linked against libwspsan.so records and
//! asks the loader for: libwspsan.so.MAJOR from 1.0 on; while the major version is 0, a minor
//! release may change the ABI (Cargo's semver rules), so 0.Y.Z is libwspsan.so.0.Y and 0.0.Z is
//! libwspsan.so.0.0.Z, as cargo-c names them. `make install` names its links the same
//! (mk/install.mk, SOVER).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let part = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("cargo sets {name}"));
    let (major, minor, patch) =
        (part("CARGO_PKG_VERSION_MAJOR"), part("CARGO_PKG_VERSION_MINOR"), part("CARGO_PKG_VERSION_PATCH"));
    let sover = match (major.as_str(), minor.as_str()) {
        ("0", "0") => format!("0.0.{patch}"),
        ("0", _) => format!("0.{minor}"),
        _ => major,
    };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwspsan.so.{sover}");
}
