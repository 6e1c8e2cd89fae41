//! `memmon check-config FILE`: load, validate, print the effective settings.

use crate::cli::CheckConfigArgs;
use crate::run::EXIT_USAGE;

/// Prints the effective settings (exit 0) or the error (exit 2).
pub fn check_config(args: CheckConfigArgs) -> i32 {
    match memmon_config::load(&args.file) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("memmon: warning: {w}");
            }
            println!("{}: OK", args.file.display());
            print!("{}", loaded.config.describe());
            0
        }
        Err(e) => {
            eprintln!("memmon: {e}");
            EXIT_USAGE
        }
    }
}
