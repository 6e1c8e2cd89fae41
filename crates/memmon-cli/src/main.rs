//! The `memmon` binary: glue between clap, memmon-config, the samplers, memmon-core and
//! memmon-format. It holds no log format and no policy of its own.

fn main() {
    println!("memmon {}", env!("CARGO_PKG_VERSION"));
}
