//! Sets the shared library's SONAME, which cargo leaves unset (rust-lang/cargo#5045).
//! While on 0.x every minor release may break the ABI, so the SONAME carries `0.<minor>`.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let soname = if major == "0" {
        format!("libbitcask.so.0.{minor}")
    } else {
        format!("libbitcask.so.{major}")
    };
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    }
    println!("cargo:rustc-env=BITCASK_SONAME={soname}");
    println!(
        "cargo:rustc-env=BITCASK_TARGET={}",
        std::env::var("TARGET").unwrap()
    );
    println!("cargo:rerun-if-changed=build.rs");
}
