//! `memmon check-config FILE [--lang en]`: load, validate, print the effective settings.

use crate::cli::CheckConfigArgs;
use crate::lang;
use crate::run::EXIT_USAGE;

/// Prints the effective settings (exit 0) or the error (exit 2). Errors and warnings are in
/// `--lang` (Japanese by default); the settings are printed with their key names, as they are
/// written in the file.
pub fn check_config(args: CheckConfigArgs) -> i32 {
    let lang = args.lang.get();
    match memmon_config::load(&args.file) {
        Ok(loaded) => {
            lang::config_warnings(lang, &loaded.warnings);
            // A closed pipe (`| head -1`) ends the listing, never a panic.
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}: OK", args.file.display())
                .and_then(|()| out.write_all(loaded.config.describe().as_bytes()))
                .and_then(|()| out.flush());
            0
        }
        Err(e) => {
            lang::config_error(lang, &e);
            EXIT_USAGE
        }
    }
}
