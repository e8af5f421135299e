//! One video's analysis split over the machine's cores: contiguous ranges of frames (or
//! of shots) on scoped threads, their results concatenated in order, so the result is
//! the one a single thread gives. A file analysed alone (`tuneclip scenes`, `reframe`)
//! uses every core as the decoder does; an ingest running one file a core only
//! oversubscribes for these short stretches.

use std::ops::Range;

/// Work below this many items a thread stays on the calling thread.
const MIN_PER_THREAD: usize = 32;

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `f` over `0..weights.len()` split into contiguous ranges of about equal total
/// weight, one a core, the results concatenated in range order.
pub(crate) fn weighted<T: Send>(weights: &[usize], f: impl Fn(Range<usize>) -> Vec<T> + Sync) -> Vec<T> {
    let total: usize = weights.iter().sum();
    let parts = threads().min(total / MIN_PER_THREAD).min(weights.len()).max(1);
    if parts == 1 {
        return f(0..weights.len());
    }
    let mut ranges = Vec::with_capacity(parts);
    let (mut start, mut acc) = (0, 0);
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if ranges.len() + 1 < parts && acc * parts >= total * (ranges.len() + 1) {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    ranges.push(start..weights.len());
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = ranges.into_iter().map(|r| s.spawn(move || f(r))).collect();
        handles.into_iter().flat_map(|h| h.join().expect("an analysis thread panicked")).collect()
    })
}

/// `f` over `0..n` in contiguous ranges, one a core, the results concatenated in order.
pub(crate) fn ranges<T: Send>(n: usize, f: impl Fn(Range<usize>) -> Vec<T> + Sync) -> Vec<T> {
    weighted(&vec![1; n], f)
}

/// `f` on every item, spread over the cores, in order.
pub(crate) fn map<I: Sync, T: Send>(items: &[I], f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    ranges(items.len(), |r| items[r].iter().map(&f).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_work_comes_back_whole_and_in_order() {
        for n in [0, 1, 31, 64, 65, 1000] {
            let expected: Vec<usize> = (0..n).map(|i| i * i).collect();
            assert_eq!(map(&(0..n).collect::<Vec<_>>(), |i| i * i), expected, "n {n}");
            let weights: Vec<usize> = (0..n).map(|i| (i % 7) * 10).collect();
            let got = weighted(&weights, |r| r.map(|i| i * i).collect());
            assert_eq!(got, expected, "weighted n {n}");
        }
    }
}
