//! Links `memmon` with `cold-text.ld`, which gathers the code `memmon run` never calls away
//! from the code it does (see the script for why). Done here rather than in rustflags so every
//! build gets it, the Pi's cross build (`cargo xtask pi-deploy`, GNU ld) as well as the host's
//! (lld), without either one's `RUSTFLAGS` replacing it.

fn main() {
    println!("cargo:rerun-if-changed=cold-text.ld");
    // The script is for ELF linkers (GNU ld, lld); other targets link as usual.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string());
    let script = std::path::Path::new(&dir).join("cold-text.ld");
    println!(
        "cargo:rustc-link-arg-bin=memmon=-Wl,-T,{}",
        script.display()
    );
}
