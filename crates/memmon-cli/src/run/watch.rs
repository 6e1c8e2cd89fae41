//! `memmon run`'s sampling loop: from the first deadline until the command ends (and, with
//! `--children`, what it left), memmon is stopped, or the duration is over; and the stop itself
//! (waiting for the command within `--stop-timeout`, ending as it ended).

use super::*;

impl Ctx<'_> {
    /// The sampling loop, until the command ends, memmon is stopped, or the duration is over.
    pub(super) fn watch(&self, mut session: Session) -> Ending {
        let command_mode = self.command_mode();
        // The command's status, once it ended and `--children` watches what it left.
        let mut ended: Option<ExitStatus> = None;
        loop {
            let Some(deadline) = session.next_deadline() else {
                // Duration over: footer now, then the command keeps running unmonitored.
                session.finish(None, Final::Take);
                return match ended {
                    Some(status) => Ending::like(status),
                    None if command_mode => self.wait_unmonitored(),
                    None => Ending::Code(0),
                };
            };
            // Wait for the deadline, handling whatever wakes us first.
            loop {
                let now = Instant::now();
                if deadline <= now {
                    // A due sample goes first: a signal that came with it is handled right
                    // after, so even a run stopped at once has a sample for its footer.
                    break;
                }
                // A pending detail block that times out before the sample is written on time.
                let until = match session.detail_deadline() {
                    Some(d) if d < deadline => d,
                    _ => deadline,
                };
                match self.rx.recv_timeout(until.saturating_duration_since(now)) {
                    Err(RecvTimeoutError::Timeout) => {
                        if until < deadline {
                            session.detail_ready();
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                    Ok(Wake::Detail) => session.detail_ready(),
                    Ok(Wake::Evidence) => session.capture_on_demand(),
                    Ok(Wake::Signal {
                        number,
                        fresh,
                        killed,
                        ..
                    }) => {
                        if let Some(status) = ended {
                            // What the command left is neither signalled nor waited for.
                            session.finish(None, fresh.map_or(Final::Take, Final::Have));
                            return Ending::like(status);
                        }
                        if !command_mode {
                            // --pid: memmon alone was asked to stop; the process goes on.
                            session.finish(None, Final::Take);
                            return Ending::Code(0);
                        }
                        return self.stopped(session, number, fresh, killed);
                    }
                    Ok(Wake::ChildExited(status)) => match self.command_exited(session, status) {
                        ControlFlow::Break(ending) => return ending,
                        ControlFlow::Continue(watched) => {
                            session = watched;
                            ended = Some(status);
                        }
                    },
                    Ok(Wake::Reaped) => {
                        if let Some(status) = ended.filter(|_| !self.tree_left()) {
                            return self.tree_ended(session, status);
                        }
                    }
                    Ok(Wake::ChildWaitFailed(e)) => {
                        say!("memmon: {}", lost_track(self.lang(), &e));
                        session.finish(None, Final::Gone);
                        return Ending::Code(EXIT_USAGE);
                    }
                    Ok(Wake::TargetGone) => {
                        session.target_gone();
                        session.finish(None, Final::Gone);
                        return Ending::Code(0);
                    }
                }
            }
            match (session.sample(), ended) {
                (Attempt::Sampled | Attempt::Failed, _) => {}
                (Attempt::Gone, Some(status)) => return self.tree_ended(session, status),
                (Attempt::Gone, None) if command_mode => {
                    // The command is ending: its exit status is on its way.
                    match self.rx.recv_timeout(EXIT_GRACE) {
                        Ok(Wake::ChildExited(status)) => {
                            match self.command_exited(session, status) {
                                ControlFlow::Break(ending) => return ending,
                                ControlFlow::Continue(watched) => {
                                    session = watched;
                                    ended = Some(status);
                                }
                            }
                        }
                        Ok(Wake::Signal {
                            number,
                            fresh,
                            killed,
                            ..
                        }) => return self.stopped(session, number, fresh, killed),
                        _ => continue,
                    }
                }
                (Attempt::Gone, None) => {
                    session.target_gone();
                    session.finish(None, Final::Gone);
                    return Ending::Code(0);
                }
            }
        }
    }

    /// A stop signal came and already went on to the command's tree (with the fresh sample
    /// taken before): wait for the command within `--stop-timeout`, write the exit line and
    /// the footer, and end as the command ended. After a double SIGINT (the tree was killed)
    /// memmon ends by SIGINT, so a calling script stops too.
    fn stopped(
        &self,
        session: Session,
        number: i32,
        fresh: Option<Reading>,
        killed: bool,
    ) -> Ending {
        let last = fresh.map_or(Final::Gone, Final::Have);
        let (status, killed) = self.wait_after_stop(killed);
        match status {
            Some(status) => {
                session.finish(Some(exit_kind(status)), last);
                if killed {
                    Ending::Signal(SIGINT)
                } else {
                    Ending::like(status)
                }
            }
            None => {
                let secs = memmon_watch::session::seconds_text(self.stop_timeout);
                say!("memmon: {}", tr!(self.lang(),
                    "停止シグナルから {secs} 秒以内にコマンドが終了しませんでした (--stop-timeout)。監視を終えます",
                    "the command did not end within {secs} s of the stop signal (--stop-timeout); memmon stops watching it"));
                session.finish(None, last);
                Ending::Signal(if killed { SIGINT } else { number })
            }
        }
    }

    /// Waits for the command's exit status for at most `--stop-timeout`; more stop signals
    /// meanwhile were already passed on. Returns the status (if it came) and whether the tree
    /// was killed by a double SIGINT.
    pub(super) fn wait_after_stop(&self, mut killed: bool) -> (Option<ExitStatus>, bool) {
        let until = Instant::now() + self.stop_timeout;
        loop {
            match self
                .rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(Wake::ChildExited(status)) => {
                    // The rest of the tree that got the signal, within the same bound.
                    self.forwarder.wait_for_stopped(until);
                    return (Some(status), killed);
                }
                Ok(Wake::Signal { killed: k, .. }) => killed |= k,
                Ok(Wake::ChildWaitFailed(e)) => {
                    say!("memmon: {}", lost_track(self.lang(), &e));
                    return (None, killed);
                }
                Ok(Wake::Detail | Wake::TargetGone | Wake::Reaped | Wake::Evidence) => {}
                Err(_) => return (None, killed),
            }
        }
    }
}
