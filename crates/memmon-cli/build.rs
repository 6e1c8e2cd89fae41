//! Links `memmon` with `cold-text.ld`, which gathers the code `memmon run` never calls away
//! from the code it does, and `hot-text.ld`, which gathers the code it does call (see the
//! scripts for why). Done here rather than in rustflags so every
//! build gets it, the Pi's cross build (`cargo xtask pi-deploy`, GNU ld) as well as the host's
//! (lld), without either one's `RUSTFLAGS` replacing it.

fn main() {
    println!("cargo:rerun-if-changed=cold-text.ld");
    println!("cargo:rerun-if-changed=hot-text.ld");
    // The script is for ELF linkers (GNU ld, lld); other targets link as usual.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".to_string());
    // In this order: both scripts insert their section before `.text`, so `.text.hot` comes
    // first, next to `.init` (and, with GNU ld, the IFUNC stubs), which start-up runs too; and
    // the rules of the first match first, so a function the profile saw run goes hot even
    // when a cold pattern names it.
    for name in ["hot-text.ld", "cold-text.ld"] {
        let script = std::path::Path::new(&dir).join(name);
        println!(
            "cargo:rustc-link-arg-bin=memmon=-Wl,-T,{}",
            script.display()
        );
    }
}
