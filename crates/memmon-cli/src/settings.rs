//! From what was typed to what runs: the config file merged with the flags, validated once.

use crate::cli::RunArgs;
use crate::lang::Lang;
use memmon_config::{Config, ConfigError};
use std::path::{Path, PathBuf};

/// The config file used when `--config` is not given and it exists in the working directory.
pub const DEFAULT_CONFIG: &str = "client_config.json";

/// A config file loaded (or the defaults), with the warnings it produced.
pub struct Resolved {
    /// The effective configuration, flags applied.
    pub config: Config,
    /// Where it came from, for messages (`None`: built-in defaults).
    pub source: Option<PathBuf>,
}

/// Loads the config named by `--config`, else `./client_config.json` when present, else the
/// defaults; prints its warnings on stderr; then applies the flags of `memmon run`.
pub fn resolve_run(args: &RunArgs) -> Result<Resolved, ConfigError> {
    let mut resolved = load_config(args.config.as_deref(), args.lang.get())?;
    let c = &mut resolved.config;
    if let Some(i) = args.interval {
        c.interval = i;
    }
    if let Some(d) = args.startup_delay {
        c.startup_delay = Some(d);
    }
    if let Some(log) = &args.log {
        c.log_file = log.clone();
    }
    if args.detail {
        c.tracemalloc = true;
    }
    if let Some(t) = args.threshold_mb {
        c.warn_threshold_mb = t;
    }
    if let Some(m) = args.max_log_mb {
        c.max_log_mb = m;
    }
    if let Some(k) = args.keep_logs {
        c.keep_logs = k;
    }
    if args.enable {
        c.enabled = true;
    }
    if let Some(p) = &args.prom_textfile {
        c.prom_textfile = Some(p.clone());
    }
    if let Some(a) = args.metrics_listen {
        c.metrics_listen = Some(a);
    }
    if let Some(n) = &args.name {
        c.name = Some(n.clone());
    }
    if let Some(h) = args.python_hook {
        c.python_hook = h;
    }
    Ok(resolved)
}

/// Loads an explicit config file, or the default one when present, or the built-in defaults.
pub fn load_config(explicit: Option<&Path>, lang: Lang) -> Result<Resolved, ConfigError> {
    let path = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let p = PathBuf::from(DEFAULT_CONFIG);
            p.exists().then_some(p)
        }
    };
    match path {
        None => Ok(Resolved {
            config: Config::default(),
            source: None,
        }),
        Some(p) => {
            let loaded = memmon_config::load(&p)?;
            crate::lang::config_warnings(lang, &loaded.warnings);
            Ok(Resolved {
                config: loaded.config,
                source: Some(p),
            })
        }
    }
}
