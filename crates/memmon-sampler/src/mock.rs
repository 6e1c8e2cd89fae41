//! Scripted stand-ins for a sampler and a detail source, for tests across the workspace.

use memmon_core::{Breakdown, Detail, DetailResult, DetailSource, Reading, SampleError, Sampler};
use std::collections::VecDeque;
use std::task::{Poll, Waker};
use std::time::Duration;

/// A [`Sampler`] that returns scripted results in order.
///
/// Once the script is used up, the last scripted result repeats forever: a script ending in a
/// reading holds steady (a process whose memory stopped changing), a script ending in
/// `Err(SampleError::Exited { .. })` stays exited (as a real process does). An empty script
/// returns `Exited { pid: 0 }` at every call.
///
/// ```
/// use memmon_core::{Reading, SampleError, Sampler};
/// use memmon_sampler::MockSampler;
///
/// let r = Reading { rss: 1 << 20, vms: 2 << 20, sys_total: 8 << 20, sys_available: 4 << 20 };
/// let mut s = MockSampler::new([Ok(r), Err(SampleError::Exited { pid: 7 })]);
/// assert_eq!(s.sample(), Ok(r));
/// assert_eq!(s.sample(), Err(SampleError::Exited { pid: 7 }));
/// assert_eq!(s.sample(), Err(SampleError::Exited { pid: 7 }));
/// assert_eq!(s.calls(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct MockSampler {
    script: VecDeque<Result<Reading, SampleError>>,
    last: Result<Reading, SampleError>,
    calls: u64,
    /// Scripted breakdowns (`None`: the sampler has none, like sysinfo).
    breakdowns: Option<VecDeque<Breakdown>>,
    last_breakdown: Breakdown,
}

impl MockSampler {
    /// A sampler that plays `script`, then repeats its last item.
    pub fn new(script: impl IntoIterator<Item = Result<Reading, SampleError>>) -> Self {
        MockSampler {
            script: script.into_iter().collect(),
            last: Err(SampleError::Exited { pid: 0 }),
            calls: 0,
            breakdowns: None,
            last_breakdown: Breakdown::default(),
        }
    }

    /// Gives the sampler a breakdown: each [`Sampler::breakdown`] call plays the next of
    /// `script`, then repeats the last (an empty script gives zeros).
    pub fn with_breakdowns(mut self, script: impl IntoIterator<Item = Breakdown>) -> Self {
        self.breakdowns = Some(script.into_iter().collect());
        self
    }

    /// A sampler that returns `reading` at every call.
    pub fn steady(reading: Reading) -> Self {
        Self::new([Ok(reading)])
    }

    /// How many times [`Sampler::sample`] was called.
    pub fn calls(&self) -> u64 {
        self.calls
    }
}

impl Sampler for MockSampler {
    fn sample(&mut self) -> Result<Reading, SampleError> {
        self.calls += 1;
        if let Some(next) = self.script.pop_front() {
            self.last = next;
        }
        self.last.clone()
    }

    fn breakdown(&mut self) -> Option<Result<Breakdown, SampleError>> {
        let script = self.breakdowns.as_mut()?;
        if let Some(next) = script.pop_front() {
            self.last_breakdown = next;
        }
        Some(Ok(self.last_breakdown))
    }
}

/// A [`DetailSource`] that returns scripted results in order, then repeats the last one,
/// like [`MockSampler`]. An empty script returns no blocks (`Ok(vec![])`) at every call.
///
/// [`MockDetail::deferred`] makes it behave like a source whose answers take time: `request`
/// returns `Pending`, a later `poll` gives the next scripted result, and a `poll` that gives up
/// gives one [`Detail::NoAnswer`] for PID 0 instead.
#[derive(Debug, Clone)]
pub struct MockDetail {
    script: VecDeque<Result<Vec<Detail>, SampleError>>,
    last: Result<Vec<Detail>, SampleError>,
    calls: u64,
    /// `Some(timeout)`: requests stay pending until polled.
    deferred: Option<Duration>,
    pending: bool,
}

impl MockDetail {
    /// A source that plays `script`, then repeats its last item.
    pub fn new(script: impl IntoIterator<Item = Result<Vec<Detail>, SampleError>>) -> Self {
        MockDetail {
            script: script.into_iter().collect(),
            last: Ok(Vec::new()),
            calls: 0,
            deferred: None,
            pending: false,
        }
    }

    /// Like [`MockDetail::new`], but every request stays pending until polled; `timeout` is
    /// what [`DetailSource::timeout`] reports and what a given-up request says it waited.
    pub fn deferred(
        script: impl IntoIterator<Item = Result<Vec<Detail>, SampleError>>,
        timeout: Duration,
    ) -> Self {
        MockDetail {
            deferred: Some(timeout),
            ..MockDetail::new(script)
        }
    }

    /// How many times a block was asked for ([`DetailSource::detail`] or
    /// [`DetailSource::request`]).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    fn next(&mut self) -> DetailResult {
        if let Some(next) = self.script.pop_front() {
            self.last = next;
        }
        self.last.clone()
    }
}

impl DetailSource for MockDetail {
    fn detail(&mut self) -> DetailResult {
        self.calls += 1;
        self.next()
    }

    fn request(&mut self, _waker: &Waker) -> Poll<DetailResult> {
        self.calls += 1;
        if self.deferred.is_none() {
            return Poll::Ready(self.next());
        }
        self.pending = true;
        Poll::Pending
    }

    fn poll(&mut self, give_up: bool) -> Poll<DetailResult> {
        if !std::mem::take(&mut self.pending) {
            return Poll::Ready(Ok(Vec::new()));
        }
        if give_up {
            return Poll::Ready(Ok(vec![Detail::NoAnswer {
                pid: 0,
                waited: self.timeout(),
            }]));
        }
        Poll::Ready(self.next())
    }

    fn timeout(&self) -> Duration {
        self.deferred.unwrap_or(Duration::ZERO)
    }
}
