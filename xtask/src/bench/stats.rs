//! The bench's statistics: medians, and the order in which compared things take turns.

/// The median of `values`: the middle one of an odd count, the mean of the two middle ones of an
/// even count; `None` when there are none. NaN sorts last (it cannot come from a timing).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The order in which `kinds` compared things run over `rounds` rounds: each round runs every
/// kind once, starting one later than the round before (round 0: 0 1 2, round 1: 1 2 0, …).
/// With two kinds that is ABBAAB…, so neither always runs first (after a cold start) or last,
/// and slow drift in machine load falls on all kinds alike.
pub fn interleaved(kinds: usize, rounds: usize) -> Vec<usize> {
    (0..rounds)
        .flat_map(|round| (0..kinds).map(move |k| (k + round) % kinds))
        .collect()
}

/// The median of the per-round ratios `a[i] / b[i]`: each pair ran side by side, so a ratio
/// cancels the load of its moment better than a ratio of medians does. Rounds where `b` is zero
/// are left out; `None` when none remain.
pub fn median_ratio(a: &[f64], b: &[f64]) -> Option<f64> {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter(|(_, &y)| y > 0.0)
        .map(|(x, y)| x / y)
        .collect();
    median(&ratios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[4.0]), Some(4.0));
        assert_eq!(median(&[9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(&[9.0, 1.0, 5.0, 3.0]), Some(4.0));
        assert_eq!(median(&[2.0, 2.0, 100.0, 2.0, 1.0]), Some(2.0));
    }

    #[test]
    fn interleaving_rotates_the_first_kind() {
        assert_eq!(interleaved(2, 3), [0, 1, 1, 0, 0, 1]);
        assert_eq!(interleaved(3, 3), [0, 1, 2, 1, 2, 0, 2, 0, 1]);
        assert_eq!(interleaved(1, 2), [0, 0]);
        assert!(interleaved(2, 0).is_empty());
        // Every kind runs once per round.
        let order = interleaved(3, 5);
        for kind in 0..3 {
            assert_eq!(order.iter().filter(|&&k| k == kind).count(), 5);
        }
    }

    #[test]
    fn ratios_are_taken_per_round_then_the_median() {
        assert_eq!(
            median_ratio(&[2.0, 30.0, 4.0], &[1.0, 10.0, 4.0]),
            Some(2.0)
        );
        assert_eq!(median_ratio(&[1.0, 5.0], &[0.0, 5.0]), Some(1.0));
        assert_eq!(median_ratio(&[1.0], &[0.0]), None);
    }
}
