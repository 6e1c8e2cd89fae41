//! The words `memmon run` says: exit lines' signal names and sampler errors as advice.

use crate::lang::{tr, Lang};
use memmon_core::SampleError;
use memmon_format::ExitKind;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

pub(super) fn exit_kind(status: ExitStatus) -> ExitKind {
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitKind::Code(code),
        (None, Some(sig)) => ExitKind::Signal {
            number: sig,
            name: signal_name(sig).to_string(),
        },
        (None, None) => ExitKind::Code(-1),
    }
}

pub(super) fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSTKFLT => "SIGSTKFLT",
        libc::SIGCHLD => "SIGCHLD",
        libc::SIGCONT => "SIGCONT",
        libc::SIGSTOP => "SIGSTOP",
        libc::SIGTSTP => "SIGTSTP",
        libc::SIGTTIN => "SIGTTIN",
        libc::SIGTTOU => "SIGTTOU",
        libc::SIGURG => "SIGURG",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGVTALRM => "SIGVTALRM",
        libc::SIGPROF => "SIGPROF",
        libc::SIGWINCH => "SIGWINCH",
        libc::SIGIO => "SIGIO",
        libc::SIGPWR => "SIGPWR",
        libc::SIGSYS => "SIGSYS",
        _ => "SIG?",
    }
}

/// Turns a sampler error into advice for the user.
pub(super) fn explain(e: &SampleError, pid: u32, lang: Lang) -> String {
    match e {
        SampleError::Exited { pid } => tr!(
            lang,
            "プロセス {pid} を監視できません: プロセス {pid} は存在しません",
            "cannot watch process {pid}: no process {pid} exists"
        ),
        SampleError::KernelThread { pid } => tr!(
            lang,
            "プロセス {pid} を監視できません: カーネルスレッドです。監視できるユーザーメモリがありません",
            "cannot watch process {pid}: it is a kernel thread, with no user memory to watch"
        ),
        SampleError::Zombie { pid } => tr!(
            lang,
            "プロセス {pid} を監視できません: プロセスは終了していて、親プロセスが終了状態を回収するのを待っています (ゾンビ)",
            "cannot watch process {pid}: it has exited and is waiting for its parent to collect its exit status (a zombie)"
        ),
        SampleError::PermissionDenied { path } => tr!(
            lang,
            "プロセス {pid} を監視できません: {path} を読む権限がありません。プロセスは別のユーザーのものです。そのユーザー (または root) で memmon を実行してください",
            "cannot watch process {pid}: permission denied reading {path}: the process belongs to another user; run memmon as that user (or root)"
        ),
        other => tr!(
            lang,
            "プロセス {pid} を監視できません: {other}",
            "cannot watch process {pid}: {other}"
        ),
    }
}

/// The stderr line that says the command runs without monitoring (the log's line is Japanese).
pub(super) fn unmonitored_notice(lang: Lang) -> &'static str {
    lang.pick("監視なしで実行します", "running the command unmonitored")
}

pub(super) fn lost_track(lang: Lang, e: &str) -> String {
    tr!(
        lang,
        "コマンドを見失いました: {e}",
        "lost track of the command: {e}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_kinds_name_the_signal() {
        assert_eq!(exit_kind(ExitStatus::from_raw(3 << 8)), ExitKind::Code(3));
        assert_eq!(
            exit_kind(ExitStatus::from_raw(9)),
            ExitKind::Signal {
                number: 9,
                name: "SIGKILL".into()
            }
        );
        for sig in 1..=31 {
            assert_ne!(signal_name(sig), "SIG?", "{sig}");
        }
    }
}
