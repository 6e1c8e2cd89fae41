//! The scripted sampler and detail source other crates' tests rely on.

use memmon_core::{Detail, DetailSource, Reading, SampleError, Sampler};
use memmon_sampler::{MockDetail, MockSampler};
use std::time::Duration;

fn reading(rss: u64) -> Reading {
    Reading {
        rss,
        vms: 2 * rss,
        sys_total: 1 << 30,
        sys_available: 1 << 29,
    }
}

#[test]
fn plays_the_script_then_repeats_the_last_reading() {
    let mut s = MockSampler::new([Ok(reading(1)), Ok(reading(2))]);
    assert_eq!(s.sample(), Ok(reading(1)));
    assert_eq!(s.sample(), Ok(reading(2)));
    assert_eq!(s.sample(), Ok(reading(2)));
    assert_eq!(s.sample(), Ok(reading(2)));
    assert_eq!(s.calls(), 4);
}

#[test]
fn errors_in_the_middle_are_returned_once() {
    let gone = SampleError::Io {
        path: "statm".into(),
        message: "boom".into(),
    };
    let mut s = MockSampler::new([Ok(reading(1)), Err(gone.clone()), Ok(reading(3))]);
    assert_eq!(s.sample(), Ok(reading(1)));
    assert_eq!(s.sample(), Err(gone));
    assert_eq!(s.sample(), Ok(reading(3)));
    assert_eq!(s.sample(), Ok(reading(3)));
}

#[test]
fn a_script_ending_in_exited_stays_exited() {
    let mut s = MockSampler::new([Ok(reading(1)), Err(SampleError::Exited { pid: 9 })]);
    s.sample().unwrap();
    for _ in 0..3 {
        assert_eq!(s.sample(), Err(SampleError::Exited { pid: 9 }));
    }
}

#[test]
fn an_empty_script_has_exited() {
    let mut s = MockSampler::new([]);
    assert_eq!(s.sample(), Err(SampleError::Exited { pid: 0 }));
}

#[test]
fn steady_always_returns_its_reading_and_boxes_as_send() {
    let mut boxed: Box<dyn Sampler + Send> = Box::new(MockSampler::steady(reading(5)));
    for _ in 0..3 {
        assert_eq!(boxed.sample(), Ok(reading(5)));
    }
}

#[test]
fn mock_detail_plays_its_script_then_repeats() {
    let block = Detail::NoAnswer {
        pid: 3,
        waited: Duration::from_secs(2),
    };
    let mut d = MockDetail::new([Ok(vec![]), Ok(vec![block.clone()])]);
    assert_eq!(d.detail(), Ok(vec![]));
    assert_eq!(d.detail(), Ok(vec![block.clone()]));
    assert_eq!(d.detail(), Ok(vec![block]));
    assert_eq!(d.calls(), 3);
    assert_eq!(MockDetail::new([]).detail(), Ok(vec![]));
}
