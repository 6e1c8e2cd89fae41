//! The Python benches' runs: a command watched to its end, stopped past its deadline.

use crate::cmd::Cmd;
use crate::{fail, Result};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a stopping run is checked.
const POLL: Duration = Duration::from_millis(20);

/// One look at the run of `c` started at `started`: its status once it has ended, `None` while
/// it runs within `deadline`; past it (or when it cannot be waited for) it is stopped and fails.
pub fn poll(
    child: &mut Child,
    c: &Cmd,
    started: Instant,
    deadline: Duration,
) -> Result<Option<ExitStatus>> {
    match child.try_wait() {
        Ok(Some(status)) => Ok(Some(status)),
        Ok(None) if started.elapsed() < deadline => Ok(None),
        Ok(None) => {
            stop(child);
            Err(fail!(
                "`{c}` still ran after {} s and was stopped",
                deadline.as_secs()
            ))
        }
        Err(e) => {
            stop(child);
            Err(fail!("cannot wait for `{c}`: {e}"))
        }
    }
}

/// Stops a run that went over its deadline. SIGTERM first: memmon passes it on to Python, where
/// SIGKILL would leave the client running on its own.
pub fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .stderr(Stdio::null())
        .status();
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(POLL);
    }
    let _ = child.kill();
    let _ = child.wait();
}
