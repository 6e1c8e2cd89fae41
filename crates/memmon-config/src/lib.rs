//! Loading `client_config.json` (the `memory_monitor` block) and `memmon.toml`.
//!
//! It will turn a configuration file into validated settings, with errors that name the file,
//! the key path, the bad value and what was expected. It never samples or writes logs.
