//! The vocabulary of issue #19's attribution: which part of a process's memory (or of what it
//! holds) carries the growth, and which cause that points to. The decision itself
//! (`attribute`) and the guide's names and remedies live beside these types; the labels are
//! stable, since JSON output, Prometheus series and alert rules carry them.

/// A part of what a watched tree is made of, whose slope can carry a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Part {
    /// Python objects: tracemalloc's traced bytes (less its own memory).
    PythonObjects,
    /// Anonymous memory that Python's traced bytes do not explain (C allocator, extensions).
    Native,
    /// Anonymous resident memory, when Python's bytes are not known.
    Anon,
    /// File-backed resident memory.
    FileBacked,
    /// Shared resident memory.
    Shared,
    /// Swapped-out memory.
    Swap,
    /// Threads.
    Threads,
    /// Socket descriptors.
    Sockets,
    /// Regular-file descriptors.
    Files,
    /// Pipe descriptors.
    Pipes,
    /// Other descriptors.
    OtherFds,
}

impl Part {
    /// Every part, in the order reports list them.
    pub const ALL: [Part; 11] = [
        Part::PythonObjects,
        Part::Native,
        Part::Anon,
        Part::FileBacked,
        Part::Shared,
        Part::Swap,
        Part::Threads,
        Part::Sockets,
        Part::Files,
        Part::Pipes,
        Part::OtherFds,
    ];

    /// The stable label (JSON, Prometheus `part=`).
    pub fn label(self) -> &'static str {
        match self {
            Part::PythonObjects => "python_objects",
            Part::Native => "native",
            Part::Anon => "anon",
            Part::FileBacked => "file_backed",
            Part::Shared => "shared",
            Part::Swap => "swap",
            Part::Threads => "threads",
            Part::Sockets => "sockets",
            Part::Files => "files",
            Part::Pipes => "pipes",
            Part::OtherFds => "other_fds",
        }
    }

    /// Whether the part is counted in bytes (the others are counts).
    pub fn is_bytes(self) -> bool {
        matches!(
            self,
            Part::PythonObjects
                | Part::Native
                | Part::Anon
                | Part::FileBacked
                | Part::Shared
                | Part::Swap
        )
    }
}

/// Why a process grows, as far as its parts tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    /// The guide's cause 1: objects piling up (Python's traced bytes grow).
    ObjectsKept,
    /// The guide's cause 2: threads that never end.
    ThreadsNeverEnd,
    /// The guide's cause 3: connections (sockets, database files) never closed.
    ConnectionsNotClosed,
    /// Native memory the C allocator keeps but could return (`malloc_trim` gave it back).
    NativeFragmentation,
    /// Native memory really held, or kept where `malloc_trim` cannot reach.
    NativeHeld,
    /// Native memory grows; not yet probed.
    Native,
    /// Anonymous memory grows; Python's share is not known (no tracing).
    Anon,
    /// Other descriptors pile up (pipes, eventfds…).
    DescriptorsNotClosed,
    /// File-backed or shared memory grows (mapped files, tmpfs, shared memory).
    FileOrShared,
    /// Swap grows.
    Swap,
    /// Nothing grows (or nothing can be said).
    None,
}

impl Cause {
    /// Every cause.
    pub const ALL: [Cause; 11] = [
        Cause::ObjectsKept,
        Cause::ThreadsNeverEnd,
        Cause::ConnectionsNotClosed,
        Cause::NativeFragmentation,
        Cause::NativeHeld,
        Cause::Native,
        Cause::Anon,
        Cause::DescriptorsNotClosed,
        Cause::FileOrShared,
        Cause::Swap,
        Cause::None,
    ];

    /// The stable label (JSON, Prometheus `cause=`).
    pub fn label(self) -> &'static str {
        match self {
            Cause::ObjectsKept => "objects_kept",
            Cause::ThreadsNeverEnd => "threads_never_end",
            Cause::ConnectionsNotClosed => "connections_not_closed",
            Cause::NativeFragmentation => "native_fragmentation",
            Cause::NativeHeld => "native_held",
            Cause::Native => "native",
            Cause::Anon => "anon",
            Cause::DescriptorsNotClosed => "descriptors_not_closed",
            Cause::FileOrShared => "file_or_shared",
            Cause::Swap => "swap",
            Cause::None => "none",
        }
    }
}

/// What the `malloc_trim(0)` probe measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrimOutcome {
    /// Resident memory dropped: the C allocator kept free memory it could return
    /// (fragmentation).
    Returned,
    /// No drop worth the name: memory really held, or kept where `malloc_trim` cannot reach
    /// (pymalloc's arenas, another allocator preloaded).
    Unchanged,
    /// No process could call it (no glibc `malloc_trim`).
    Unavailable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct_snake_case() {
        for l in Part::ALL
            .iter()
            .map(|p| p.label())
            .chain(Cause::ALL.iter().map(|c| c.label()))
        {
            assert!(l.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{l}");
        }
        let parts: std::collections::BTreeSet<_> = Part::ALL.iter().map(|p| p.label()).collect();
        let causes: std::collections::BTreeSet<_> = Cause::ALL.iter().map(|c| c.label()).collect();
        assert_eq!(parts.len(), Part::ALL.len());
        assert_eq!(causes.len(), Cause::ALL.len());
    }
}
