//! The shared library's SONAME, the name a program linked against libwspsan.so records and
//! asks the loader for: libwspsan.so.MAJOR, or libwspsan.so.0.MINOR while the major version is
//! 0, since a 0.x minor release may change the ABI (Cargo's semver rules; cargo-c names 0.x
//! libraries the same way). `make install` names its symlink to libwspsan.so.X.Y.Z the same.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" {
        return;
    }
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets CARGO_PKG_VERSION_MAJOR");
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").expect("cargo sets CARGO_PKG_VERSION_MINOR");
    let soname = if major == "0" { format!("libwspsan.so.0.{minor}") } else { format!("libwspsan.so.{major}") };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
}
