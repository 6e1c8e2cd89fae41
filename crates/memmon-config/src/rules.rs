//! The rules a value must meet wherever it is written: the config file's validation and the
//! `memmon` command line call the same functions, so `"name": ""` and `--name ""` get the same
//! answer, and `check-config` refuses exactly the paths `run` could never open.

use memmon_core::Lang;

use crate::config::PythonHook;
use crate::expected::Expected;
use crate::value::quote;

/// The longest path Linux opens, in bytes (`PATH_MAX` is 4096 with the terminating NUL).
pub const MAX_PATH_BYTES: usize = 4095;

/// The longest single name in a path, in bytes (`NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;

/// The rule for `name` (`--name`, config `name`), the metrics' `name` label: not empty, because
/// an empty label is how Prometheus says "no label", which would merge every Pi's series.
pub fn check_name(name: &str) -> Result<(), Expected> {
    if name.is_empty() {
        Err(Expected::NonEmptyString)
    } else {
        Ok(())
    }
}

/// The rule for a file memmon writes (`log_file`, `prom_textfile`): a path the OS could open
/// as a file. Refused, because opening them always fails: the empty path, a NUL byte (no
/// system call takes one), a path that names a directory by its form (ending in `/`, `.` or
/// `..`), and a path longer than Linux opens (ENAMETOOLONG). Whether the directory exists or
/// may be written is left to the moment of opening: it can change before `run` starts.
pub fn check_file_path(path: &str) -> Result<(), Expected> {
    let last = path.rsplit('/').next().unwrap_or(path);
    let refused = path.is_empty()
        || path.contains('\0')
        || matches!(last, "" | "." | "..")
        || path.len() > MAX_PATH_BYTES
        || path.split('/').any(|name| name.len() > MAX_NAME_BYTES);
    if refused {
        Err(Expected::FilePath)
    } else {
        Ok(())
    }
}

/// The rule for `python_hook` (`--python-hook`, config `python_hook`): one of the exact
/// lowercase words `auto`, `off`, so the same spelling works in every file and flag.
pub fn check_python_hook(value: &str) -> Result<PythonHook, Expected> {
    PythonHook::ALL
        .into_iter()
        .find(|h| h.as_str() == value)
        .ok_or(Expected::OneOf(&PythonHook::WORDS))
}

/// A command-line value refused by one of these rules, worded as the config file's error
/// after its key: `expected a non-empty string, got ""`. `Display` is English (clap's
/// messages are); [`Refused::message`] gives either language.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected {expected}, got {got}")]
pub struct Refused {
    /// What the flag accepts.
    pub expected: Expected,
    /// The value as given, quoted and escaped like a JSON string.
    pub got: String,
}

impl Refused {
    fn new(expected: Expected, got: &str) -> Refused {
        Refused {
            expected,
            got: quote(got),
        }
    }

    /// The message in `lang`; Japanese reads like the config file's `…が必要ですが … でした`.
    pub fn message(&self, lang: Lang) -> String {
        match lang {
            Lang::En => self.to_string(),
            Lang::Ja => {
                let expected = self.expected.text(Lang::Ja);
                let gap = crate::error::gap(&expected);
                format!("{expected}{gap}が必要ですが {} (文字列) でした", self.got)
            }
        }
    }
}

/// `--name`'s value parser: [`check_name`], for clap's `value_parser`.
pub fn parse_name(value: &str) -> Result<String, Refused> {
    check_name(value)
        .map(|()| value.to_owned())
        .map_err(|e| Refused::new(e, value))
}

/// `--python-hook`'s value parser: [`check_python_hook`], for clap's `value_parser`.
pub fn parse_python_hook(value: &str) -> Result<PythonHook, Refused> {
    check_python_hook(value).map_err(|e| Refused::new(e, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name(""), Err(Expected::NonEmptyString));
        assert_eq!(check_name("reader-07"), Ok(()));
        let refused = parse_name("").unwrap_err();
        assert_eq!(refused.to_string(), "expected a non-empty string, got \"\"");
        assert_eq!(
            refused.message(Lang::Ja),
            "空でない文字列が必要ですが \"\" (文字列) でした"
        );
        assert_eq!(parse_name("x"), Ok("x".to_owned()));
    }

    #[test]
    fn python_hook_words() {
        for hook in PythonHook::ALL {
            assert_eq!(check_python_hook(hook.as_str()), Ok(hook));
        }
        let refused = parse_python_hook("Off").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "expected one of \"auto\", \"off\", got \"Off\""
        );
        assert_eq!(
            refused.message(Lang::Ja),
            "\"auto\"、\"off\" のいずれかが必要ですが \"Off\" (文字列) でした"
        );
    }

    #[test]
    fn file_paths_run_could_never_open_are_refused() {
        for bad in [
            "",
            "a\0b",
            "\0",
            "/",
            "logs/",
            ".",
            "..",
            "logs/.",
            "/var/log/..",
        ] {
            assert_eq!(check_file_path(bad), Err(Expected::FilePath), "{bad:?}");
        }
        let long_name = "x".repeat(MAX_NAME_BYTES + 1);
        assert_eq!(check_file_path(&long_name), Err(Expected::FilePath));
        let long_path = "a/".repeat(MAX_PATH_BYTES / 2) + "log";
        assert_eq!(check_file_path(&long_path), Err(Expected::FilePath));
        for good in [
            "memory_usage.log",
            "/var/log/memmon/m.log",
            "./m.log",
            "../m.log",
            ".hidden",
            "a b/日本語.log",
            &"x".repeat(MAX_NAME_BYTES),
        ] {
            assert_eq!(check_file_path(good), Ok(()), "{good:?}");
        }
    }
}
