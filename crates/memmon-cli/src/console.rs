//! Where the console lines go: memmon-watch's `Console` and `say!`, re-exported while the
//! watching loop moves into memmon-watch (issue #18).

pub(crate) use memmon_watch::console::{say, Console};
