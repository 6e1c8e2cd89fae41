//! External commands as values: printed before they run (and instead of running them, with
//! `--dry-run`), in a form that can be pasted into a shell.

use crate::{fail, Result};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One external command: program, arguments, extra environment, working directory, and
/// optionally a file its stdout goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// Extra environment variables, in the order they are printed.
    pub env: Vec<(String, String)>,
    /// The program, a name looked up on PATH or a path.
    pub program: String,
    /// The arguments.
    pub args: Vec<String>,
    /// The working directory; `None` keeps xtask's.
    pub cwd: Option<PathBuf>,
    /// Where stdout goes (`> FILE`); `None` inherits xtask's stdout.
    pub stdout_to: Option<PathBuf>,
}

impl Cmd {
    /// A command with no extra environment, run in xtask's directory.
    pub fn new(program: impl Into<String>) -> Self {
        Cmd {
            env: Vec::new(),
            program: program.into(),
            args: Vec::new(),
            cwd: None,
            stdout_to: None,
        }
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds a path argument (paths here are the project's own, printable as UTF-8).
    pub fn path_arg(self, path: &Path) -> Self {
        self.arg(path.display().to_string())
    }

    /// Sets an environment variable for this command only.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_string(), value.into()));
        self
    }

    /// Runs the command in `dir`.
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_path_buf());
        self
    }

    /// Sends the command's stdout to `file` (created or truncated).
    pub fn stdout_to(mut self, file: &Path) -> Self {
        self.stdout_to = Some(file.to_path_buf());
        self
    }

    /// The std command (program, arguments, environment, directory; not `stdout_to`), for a
    /// caller that needs its own stdio or a deadline.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        c.args(&self.args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(dir) = &self.cwd {
            c.current_dir(dir);
        }
        c
    }

    /// Runs the command; stdout goes to `stdout_to` or xtask's stdout. Non-zero exit is a
    /// failure naming the command.
    pub fn run(&self) -> Result<()> {
        let mut c = self.command();
        if let Some(file) = &self.stdout_to {
            let f = std::fs::File::create(file)
                .map_err(|e| fail!("cannot create {}: {e}", file.display()))?;
            c.stdout(f);
        }
        let status = c.status().map_err(|e| self.spawn_error(e))?;
        if status.success() {
            Ok(())
        } else {
            Err(fail!("`{self}` failed ({status})"))
        }
    }

    /// Runs the command and returns its stdout (stderr passes through). Non-zero exit is a
    /// failure naming the command.
    pub fn capture(&self) -> Result<String> {
        let out = self
            .command()
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| self.spawn_error(e))?;
        if !out.status.success() {
            return Err(fail!("`{self}` failed ({})", out.status));
        }
        String::from_utf8(out.stdout).map_err(|_| fail!("`{self}` printed text that is not UTF-8"))
    }

    fn spawn_error(&self, e: std::io::Error) -> crate::Failure {
        fail!("cannot run `{}`: {e}", self.program)
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dir) = &self.cwd {
            write!(f, "cd {} && ", quote(&dir.display().to_string()))?;
        }
        for (k, v) in &self.env {
            write!(f, "{k}={} ", quote(v))?;
        }
        f.write_str(&quote(&self.program))?;
        for a in &self.args {
            write!(f, " {}", quote(a))?;
        }
        if let Some(file) = &self.stdout_to {
            write!(f, " > {}", quote(&file.display().to_string()))?;
        }
        Ok(())
    }
}

/// Quotes `s` for a POSIX shell when it holds anything but plainly safe characters.
pub fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@+%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The cargo that runs xtask (`$CARGO`), so the Pi build uses the same one; `cargo` otherwise.
pub fn cargo() -> String {
    std::env::var_os("CARGO")
        .map(OsString::into_string)
        .and_then(std::result::Result::ok)
        .unwrap_or_else(|| "cargo".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_only_what_needs_it() {
        let c = Cmd::new("ssh")
            .env("A", "x y")
            .arg("pi@host")
            .arg("cd /tmp && sudo sh install.sh")
            .cwd(Path::new("/w"))
            .stdout_to(Path::new("/o/f.sha256"));
        assert_eq!(
            c.to_string(),
            "cd /w && A='x y' ssh pi@host 'cd /tmp && sudo sh install.sh' > /o/f.sha256"
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn a_missing_program_is_a_message_not_a_panic() {
        let err = Cmd::new("/nonexistent/xtask-test-program")
            .run()
            .unwrap_err();
        assert!(
            err.0
                .contains("cannot run `/nonexistent/xtask-test-program`"),
            "{err}"
        );
    }
}
