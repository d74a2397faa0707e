//! Glass-to-glass latency from frame markers. The agent sees both ends of a stream: the frames
//! the relay hands it for publishing and the same frames coming back from the player. A
//! marker's first appearance on the way out is remembered; its first appearance on the way
//! back gives one latency sample. The stats report the p50/p95 of the samples of the last
//! [`WINDOW_MS`], and nothing when no marked frame came back in that time.

/// Samples older than this are left out of the percentiles.
pub const WINDOW_MS: f64 = 2000.0;
/// Markers waiting for their frame to come back; older ones are forgotten first (a frame the
/// encoder or the network dropped never returns).
const MAX_PENDING: usize = 256;
/// A marker sent longer ago than this is not matched any more: 16-bit markers wrap, and a
/// frame that late says nothing useful about the current latency.
const MAX_AGE_MS: f64 = 10_000.0;
/// Bound on the samples kept for one window (120 fps for 2 s, with room to spare).
const MAX_SAMPLES: usize = 512;

/// Latency percentiles over the window, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
}

/// Send times of marked frames and the latency samples of the ones that came back.
#[derive(Debug, Default)]
pub struct LatencyTracker {
    /// `(marker, sent at ms)` in sending order.
    pending: Vec<(u16, f64)>,
    /// Marker of the last frame sent, so a held (repeated) frame keeps its first send time.
    last_sent: Option<u16>,
    /// `(measured at ms, latency ms)` in measuring order.
    samples: Vec<(f64, f64)>,
}

impl LatencyTracker {
    /// A frame with `marker` (if it carries one) goes out at `now_ms`.
    pub fn sent(&mut self, marker: Option<u16>, now_ms: f64) {
        let Some(marker) = marker else { return };
        if self.last_sent.replace(marker) == Some(marker) {
            return;
        }
        // The same number again means the 16-bit counter wrapped: the newer frame counts.
        self.pending.retain(|(m, _)| *m != marker);
        if self.pending.len() == MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push((marker, now_ms));
    }

    /// A frame with `marker` (if it carries one) came back at `now_ms`.
    pub fn returned(&mut self, marker: Option<u16>, now_ms: f64) {
        let Some(marker) = marker else { return };
        let Some(at) = self.pending.iter().position(|(m, _)| *m == marker) else {
            return;
        };
        let sent_ms = self.pending[at].1;
        // Video stays in order: frames sent before this one and still pending were dropped.
        self.pending.drain(..=at);
        if now_ms - sent_ms > MAX_AGE_MS {
            return;
        }
        if self.samples.len() == MAX_SAMPLES {
            self.samples.remove(0);
        }
        self.samples.push((now_ms, (now_ms - sent_ms).max(0.0)));
    }

    /// p50 and p95 of the last [`WINDOW_MS`], or `None` when there is no sample in it.
    pub fn percentiles(&mut self, now_ms: f64) -> Option<Percentiles> {
        self.samples.retain(|(at, _)| now_ms - at <= WINDOW_MS);
        self.pending.retain(|(_, sent)| now_ms - sent <= MAX_AGE_MS);
        let mut values: Vec<f64> = self.samples.iter().map(|(_, ms)| *ms).collect();
        if values.is_empty() {
            return None;
        }
        // Insertion sort: a few hundred values once a second, where the library's sort
        // routines would add kilobytes to the wasm package.
        for i in 1..values.len() {
            let mut j = i;
            while j > 0 && values[j - 1] > values[j] {
                values.swap(j - 1, j);
                j -= 1;
            }
        }
        let rank =
            |q: f64| values[((q * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
        Some(Percentiles {
            p50_ms: rank(0.5),
            p95_ms: rank(0.95),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_markers_and_reports_percentiles() {
        let mut t = LatencyTracker::default();
        for i in 0..20u16 {
            t.sent(Some(i + 1), f64::from(i) * 10.0);
        }
        for i in 0..20u16 {
            // Latency grows 40, 41, … 59 ms.
            t.returned(Some(i + 1), f64::from(i) * 10.0 + 40.0 + f64::from(i));
        }
        let p = t.percentiles(300.0).unwrap();
        assert_eq!(p.p50_ms, 49.0);
        assert_eq!(p.p95_ms, 58.0);
    }

    #[test]
    fn nothing_without_markers() {
        let mut t = LatencyTracker::default();
        for i in 0..100 {
            t.sent(None, f64::from(i));
            t.returned(None, f64::from(i) + 5.0);
        }
        assert_eq!(t.percentiles(200.0), None);
        // A returned marker that was never sent is no sample either.
        t.returned(Some(7), 201.0);
        assert_eq!(t.percentiles(202.0), None);
    }

    #[test]
    fn held_and_repeated_frames_count_once_from_their_first_appearance() {
        let mut t = LatencyTracker::default();
        t.sent(Some(5), 0.0);
        t.sent(Some(5), 33.0);
        t.sent(Some(5), 66.0);
        t.returned(Some(5), 100.0);
        t.returned(Some(5), 133.0);
        let p = t.percentiles(150.0).unwrap();
        assert_eq!((p.p50_ms, p.p95_ms), (100.0, 100.0));
    }

    #[test]
    fn dropped_frames_are_forgotten_and_old_samples_leave_the_window() {
        let mut t = LatencyTracker::default();
        t.sent(Some(1), 0.0);
        t.sent(Some(2), 10.0);
        t.sent(Some(3), 20.0);
        t.returned(Some(3), 50.0);
        // 1 and 2 never came back before 3: they are gone, a late copy does not count.
        t.returned(Some(1), 60.0);
        assert_eq!(t.percentiles(60.0).map(|p| p.p50_ms), Some(30.0));
        assert_eq!(t.percentiles(50.0 + WINDOW_MS + 1.0), None);
    }

    #[test]
    fn pending_markers_stay_bounded() {
        let mut t = LatencyTracker::default();
        for i in 1..=1000u16 {
            t.sent(Some(i), f64::from(i));
        }
        assert_eq!(t.pending.len(), MAX_PENDING);
        t.returned(Some(1), 1001.0);
        assert_eq!(t.percentiles(1001.0), None, "marker 1 was evicted");
        t.returned(Some(1000), 1010.0);
        assert_eq!(t.percentiles(1010.0).map(|p| p.p50_ms), Some(10.0));
        // Too late to be matched.
        t.sent(Some(2000), 2000.0);
        t.returned(Some(2000), 2000.0 + MAX_AGE_MS + 1.0);
        assert_eq!(t.samples.len(), 1);
    }
}
