//! Turning OS errors and parse errors into memmon-core's [`SampleError`], with the path attached.

use crate::procfs::parse::ParseError;
use memmon_core::SampleError;
use rustix::io::Errno;
use std::io;
use std::path::Path;

/// Classifies an I/O error on `path`. `pid` is the process the file belongs to, when its
/// disappearance means "that process exited": ENOENT (the `/proc/PID` directory is gone) and
/// ESRCH (an open `/proc/PID/…` file whose process was reaped) become `Exited`.
pub(crate) fn io_error(err: &io::Error, path: &Path, pid: Option<u32>) -> SampleError {
    if let Some(pid) = pid {
        if is_gone(err) {
            return SampleError::Exited { pid };
        }
    }
    if err.kind() == io::ErrorKind::PermissionDenied {
        // std maps both EACCES and EPERM here.
        return SampleError::PermissionDenied {
            path: path.display().to_string(),
        };
    }
    SampleError::Io {
        path: path.display().to_string(),
        message: err.to_string(),
    }
}

/// Whether an error means the process (or a file of it) no longer exists.
pub(crate) fn is_gone(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || Errno::from_io_error(err) == Some(Errno::SRCH)
}

/// A parse failure of the file at `path`.
pub(crate) fn parse_error(err: ParseError, path: &Path) -> SampleError {
    SampleError::Parse {
        path: path.display().to_string(),
        detail: err.to_string(),
    }
}

/// Bytes from `/proc` that should be ASCII but are not valid UTF-8.
pub(crate) fn not_utf8(path: &Path) -> SampleError {
    SampleError::Parse {
        path: path.display().to_string(),
        detail: "not valid UTF-8".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(errno: Errno) -> io::Error {
        io::Error::from_raw_os_error(errno.raw_os_error())
    }

    #[test]
    fn errors_map_to_what_the_caller_should_do() {
        let path = Path::new("/proc/7/statm");
        let exited = SampleError::Exited { pid: 7 };
        assert_eq!(io_error(&os(Errno::NOENT), path, Some(7)), exited);
        assert_eq!(io_error(&os(Errno::SRCH), path, Some(7)), exited);
        let denied = SampleError::PermissionDenied {
            path: "/proc/7/statm".into(),
        };
        assert_eq!(io_error(&os(Errno::ACCESS), path, Some(7)), denied);
        assert_eq!(io_error(&os(Errno::PERM), path, Some(7)), denied);
        // Without a process to blame, a missing file is an I/O error.
        let missing = io_error(&os(Errno::NOENT), Path::new("/proc/meminfo"), None);
        assert!(matches!(missing, SampleError::Io { .. }), "{missing:?}");
        let other = io_error(&os(Errno::IO), path, Some(7));
        assert!(matches!(other, SampleError::Io { ref path, .. } if path == "/proc/7/statm"));
    }
}
