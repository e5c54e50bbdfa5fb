//! A fixed-bucket histogram: counts per bucket (not cumulative; the last is `+Inf`) and a sum.
//! Plain data, updated under its shard's lock (see `super::local`).

/// `http.server.request.duration` buckets, in seconds: the OpenTelemetry semantic conventions'
/// advice for HTTP server durations.
pub(crate) const DURATION_BOUNDS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// Body size buckets, in bytes: powers of 4 from 64 B to 64 MiB (the conventions advise none).
pub(crate) const SIZE_BOUNDS: [f64; 11] = [
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Histogram<const B: usize> {
    /// `counts[i]`: observations in `(bounds[i-1], bounds[i]]`; `counts[B]`: above the last bound.
    counts: [u64; B],
    overflow: u64,
    sum: f64,
}

impl<const B: usize> Default for Histogram<B> {
    fn default() -> Self {
        Self {
            counts: [0; B],
            overflow: 0,
            sum: 0.0,
        }
    }
}

impl<const B: usize> Histogram<B> {
    pub(crate) fn observe(&mut self, bounds: &[f64; B], value: f64) {
        match bounds.iter().position(|&b| value <= b) {
            Some(i) => self.counts[i] += 1,
            None => self.overflow += 1,
        }
        self.sum += value;
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.overflow += other.overflow;
        self.sum += other.sum;
    }

    /// Counts per bucket, `+Inf` last (not cumulative).
    pub(crate) fn buckets(&self) -> Vec<u64> {
        let mut out = self.counts.to_vec();
        out.push(self.overflow);
        out
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum::<u64>() + self.overflow
    }

    pub(crate) fn sum(&self) -> f64 {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_lands_in_the_first_bucket_whose_bound_holds_it() {
        let mut h = Histogram::<14>::default();
        for v in [0.0, 0.005, 0.0051, 10.0, 10.5] {
            h.observe(&DURATION_BOUNDS, v);
        }
        let b = h.buckets();
        assert_eq!(b.len(), 15);
        assert_eq!(b[0], 2, "bounds are inclusive");
        assert_eq!(b[1], 1);
        assert_eq!(b[13], 1);
        assert_eq!(b[14], 1, "+Inf");
        assert_eq!(h.count(), 5);
        assert!((h.sum() - 20.5101).abs() < 1e-9);
    }

    #[test]
    fn merging_adds_counts_and_sums() {
        let mut a = Histogram::<11>::default();
        let mut b = Histogram::<11>::default();
        a.observe(&SIZE_BOUNDS, 10.0);
        b.observe(&SIZE_BOUNDS, 100.0);
        b.observe(&SIZE_BOUNDS, 1e9);
        a.merge(&b);
        assert_eq!(a.buckets()[..3], [1, 1, 0]);
        assert_eq!(a.buckets()[11], 1);
        assert_eq!(a.count(), 3);
        assert_eq!(a.sum(), 10.0 + 100.0 + 1e9);
    }

    #[test]
    fn bounds_increase() {
        assert!(DURATION_BOUNDS.windows(2).all(|w| w[0] < w[1]));
        assert!(SIZE_BOUNDS.windows(2).all(|w| w[0] < w[1]));
    }
}
