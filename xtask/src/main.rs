//! `cargo xtask`: project automation. It will hold `pi-deploy` (the aarch64 build for the Pi)
//! and `bench` (memmon's cost against its limits and peers).

fn main() {
    eprintln!("usage: cargo xtask <pi-deploy|bench> (not yet implemented)");
    std::process::exit(2);
}
