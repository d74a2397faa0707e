//! The frame hub: per stream, an uplink slot (frames from the workflow to the publishing
//! tab) and an output slot (processed frames from the playing tab to the workflow).
//!
//! Both hold at most one frame. The uplink is newest-wins: a frame that is replaced before
//! the socket took it is dropped and counted, so a slow tab can never make the relay queue
//! frames. The output slot keeps the latest frame with a sequence number; readers wait for
//! one newer than the last they saw. It also knows whether anyone reads: the player is told
//! to hold its frames back while nobody has asked for one for [`OUTPUT_LINGER`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtc_protocol::{FRAME_HEADER_LEN, FrameHeader, PixelFormat};
use tokio::sync::{Notify, watch};

use crate::lock;

/// Counters of one stream's frame traffic.
#[derive(Debug, Default)]
pub struct FrameCounters {
    /// Frames accepted from the workflow.
    pub received: AtomicU64,
    /// Frames handed to the publishing tab's socket.
    pub sent: AtomicU64,
    /// Frames replaced before the socket took them.
    pub dropped: AtomicU64,
    /// Processed frames received from the playing tab.
    pub output: AtomicU64,
    /// Bytes of frame messages written to the publishing tab's socket (what the link costs).
    pub sent_bytes: AtomicU64,
    /// Bytes of frame messages received from the playing tab.
    pub output_bytes: AtomicU64,
}

/// Result of [`UplinkSlot::put`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// Sequence number given to the frame.
    pub sequence: u64,
    /// Frames dropped on this stream so far.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Pending {
    message: Option<Bytes>,
    next_sequence: u64,
}

/// Newest-wins slot of encoded frame messages (header + pixels) for the publisher.
#[derive(Debug, Default)]
pub struct UplinkSlot {
    pending: std::sync::Mutex<Pending>,
    consumer: std::sync::Mutex<Option<Arc<Notify>>>,
    counters: Arc<FrameCounters>,
}

impl UplinkSlot {
    /// A slot reporting into `counters`.
    pub fn new(counters: Arc<FrameCounters>) -> Self {
        Self {
            counters,
            ..Self::default()
        }
    }

    /// Stores a frame. `message` must start with [`FRAME_HEADER_LEN`] spare bytes followed by
    /// the pixels; the header (with the slot's next sequence number) is written into them, so
    /// the pixels are copied once, from the request body into `message`.
    pub fn put(&self, mut message: Vec<u8>, mut header: FrameHeader) -> Accepted {
        debug_assert!(message.len() >= FRAME_HEADER_LEN);
        let replaced;
        let sequence;
        {
            let mut pending = lock(&self.pending);
            sequence = pending.next_sequence;
            pending.next_sequence += 1;
            header.sequence = sequence;
            message[..FRAME_HEADER_LEN].copy_from_slice(&header.encode());
            replaced = pending.message.replace(Bytes::from(message)).is_some();
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        let dropped = if replaced {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.counters.dropped.load(Ordering::Relaxed)
        };
        if let Some(consumer) = lock(&self.consumer).as_ref() {
            consumer.notify_one();
        }
        Accepted { sequence, dropped }
    }

    /// Takes the pending frame, if any (the consumer calls this when notified).
    pub fn take(&self) -> Option<Bytes> {
        let message = lock(&self.pending).message.take();
        if message.is_some() {
            self.counters.sent.fetch_add(1, Ordering::Relaxed);
        }
        message
    }

    /// Sets who is woken on new frames (the lease holder's socket), or nobody. A frame
    /// already waiting is announced to the new consumer.
    pub fn set_consumer(&self, consumer: Option<Arc<Notify>>) {
        let has_pending = lock(&self.pending).message.is_some();
        if let Some(c) = &consumer
            && has_pending
        {
            c.notify_one();
        }
        *lock(&self.consumer) = consumer;
    }

    /// Drops a pending frame (the lease changed hands; an old frame is not worth sending).
    pub fn clear(&self) {
        if lock(&self.pending).message.take().is_some() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// 1 when a frame is waiting, else 0.
    pub fn depth(&self) -> usize {
        usize::from(lock(&self.pending).message.is_some())
    }
}

/// A processed frame.
#[derive(Debug, Clone)]
pub struct OutputFrame {
    /// Relay-assigned sequence, increasing by one per frame.
    pub sequence: u64,
    /// Capture time reported by the player, µs.
    pub capture_us: u64,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Layout of `pixels`.
    pub format: PixelFormat,
    /// The pixels.
    pub pixels: Bytes,
    /// When the relay got it.
    pub arrived: Instant,
}

/// How long after the last request for a processed frame the player keeps sending them: a
/// node between two polls, or a workflow queued again at once, finds them flowing.
pub const OUTPUT_LINGER: Duration = Duration::from_secs(5);

/// Age past which the newest frame, when a player resumes sending, is from before its idle
/// spell (a frame sent just now by a player that does not hold frames back is not).
const STALE_AFTER: Duration = Duration::from_millis(500);

/// Latest processed frame plus a sequence number readers can wait on.
#[derive(Debug)]
pub struct OutputSlot {
    latest: watch::Sender<Option<Arc<OutputFrame>>>,
    counters: Arc<FrameCounters>,
    demand: std::sync::Mutex<Demand>,
}

/// Who reads the output slot.
#[derive(Debug, Default)]
struct Demand {
    /// Requests waiting now.
    waiting: usize,
    /// When the last request ended.
    last: Option<Instant>,
    /// What the player was last told (see [`OutputSlot::demand_changed`]).
    told: Option<bool>,
    /// Sequence of the newest frame when the player was told to send again, if that frame was
    /// already old (from before the idle spell): no reader is given it.
    stale_up_to: u64,
}

/// A request for a processed frame, counted as demand until dropped.
#[derive(Debug)]
pub struct Reader<'a> {
    slot: &'a OutputSlot,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        let mut demand = lock(&self.slot.demand);
        demand.waiting -= 1;
        demand.last = Some(Instant::now());
    }
}

impl OutputSlot {
    /// A slot reporting into `counters`.
    pub fn new(counters: Arc<FrameCounters>) -> Self {
        Self {
            latest: watch::Sender::new(None),
            counters,
            demand: std::sync::Mutex::default(),
        }
    }

    /// A request for frames arrives; it counts as demand until the guard is dropped.
    pub fn reader(&self) -> Reader<'_> {
        lock(&self.demand).waiting += 1;
        Reader { slot: self }
    }

    /// Whether anyone reads now or did within [`OUTPUT_LINGER`] of `now`.
    pub fn wanted(&self, now: Instant) -> bool {
        let demand = lock(&self.demand);
        demand.waiting > 0
            || demand
                .last
                .is_some_and(|last| now.saturating_duration_since(last) < OUTPUT_LINGER)
    }

    /// What the player was last told, if anything.
    pub fn told(&self) -> Option<bool> {
        lock(&self.demand).told
    }

    /// [`Self::wanted`] when it differs from what the player was last told (which it now
    /// has been), else `None`. `always` answers even without a change, for a new player.
    pub fn demand_changed(&self, now: Instant, always: bool) -> Option<bool> {
        let wanted = self.wanted(now);
        let stale = self.latest.borrow().as_ref().and_then(|frame| {
            (now.saturating_duration_since(frame.arrived) > STALE_AFTER).then_some(frame.sequence)
        });
        let mut demand = lock(&self.demand);
        if let (true, Some(false), Some(sequence)) = (wanted, demand.told, stale) {
            demand.stale_up_to = sequence;
        }
        let changed = demand.told != Some(wanted);
        demand.told = Some(wanted);
        (changed || always).then_some(wanted)
    }

    /// Stores a frame; returns its sequence (starting at 1).
    pub fn publish(&self, header: &FrameHeader, pixels: Bytes) -> u64 {
        let sequence = self.counters.output.fetch_add(1, Ordering::Relaxed) + 1;
        let frame = OutputFrame {
            sequence,
            capture_us: header.capture_us,
            width: header.width,
            height: header.height,
            format: header.format,
            pixels,
            arrived: Instant::now(),
        };
        self.latest.send_replace(Some(Arc::new(frame)));
        sequence
    }

    /// Sequence of the latest frame, 0 before the first.
    pub fn sequence(&self) -> u64 {
        self.latest.borrow().as_ref().map_or(0, |f| f.sequence)
    }

    /// The latest frame if its sequence is above `after`, waiting up to `wait` for one; never
    /// one from before the player last resumed sending.
    pub async fn newer_than(&self, after: u64, wait: Duration) -> Option<Arc<OutputFrame>> {
        let after = after.max(lock(&self.demand).stale_up_to);
        let mut rx = self.latest.subscribe();
        let newer = |f: &Option<Arc<OutputFrame>>| f.as_ref().is_some_and(|f| f.sequence > after);
        let result = tokio::time::timeout(wait, rx.wait_for(newer)).await;
        match result {
            Ok(Ok(frame)) => frame.clone(),
            _ => None,
        }
    }
}

/// The two slots of one stream.
#[derive(Debug)]
pub struct StreamFrames {
    /// Counters shared by both slots.
    pub counters: Arc<FrameCounters>,
    /// Workflow → publisher.
    pub uplink: UplinkSlot,
    /// Player → workflow.
    pub output: OutputSlot,
}

impl Default for StreamFrames {
    fn default() -> Self {
        let counters = Arc::new(FrameCounters::default());
        Self {
            uplink: UplinkSlot::new(counters.clone()),
            output: OutputSlot::new(counters.clone()),
            counters,
        }
    }
}

impl StreamFrames {
    /// Snapshot for the Stream object.
    pub fn snapshot(&self) -> serde_json::Value {
        let c = &self.counters;
        serde_json::json!({
            "received": c.received.load(Ordering::Relaxed),
            "sent": c.sent.load(Ordering::Relaxed),
            "dropped": c.dropped.load(Ordering::Relaxed),
            "queue_depth": self.uplink.depth(),
            "output_sequence": self.output.sequence(),
            "sent_bytes": c.sent_bytes.load(Ordering::Relaxed),
            "output_bytes": c.output_bytes.load(Ordering::Relaxed),
            "output_wanted": self.output.told().unwrap_or_else(|| self.output.wanted(Instant::now())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> FrameHeader {
        FrameHeader {
            stream_index: 1,
            sequence: 0,
            capture_us: 5,
            width: 2,
            height: 1,
            format: PixelFormat::Rgb8,
        }
    }

    fn message(fill: u8) -> Vec<u8> {
        let mut m = vec![0; FRAME_HEADER_LEN];
        m.extend_from_slice(&[fill; 6]);
        m
    }

    #[test]
    fn uplink_keeps_only_the_newest_and_counts_drops() {
        let frames = StreamFrames::default();
        let notify = Arc::new(Notify::new());
        frames.uplink.set_consumer(Some(notify));
        for i in 0..10 {
            let accepted = frames.uplink.put(message(i), header());
            assert_eq!(accepted.sequence, u64::from(i));
        }
        assert_eq!(frames.uplink.depth(), 1);
        let taken = frames.uplink.take().unwrap();
        let (h, pixels) = FrameHeader::decode(&taken).unwrap();
        assert_eq!(h.sequence, 9);
        assert_eq!(pixels, &[9; 6]);
        assert!(frames.uplink.take().is_none());
        let snap = frames.snapshot();
        assert_eq!(snap["received"], 10);
        assert_eq!(snap["dropped"], 9);
        assert_eq!(snap["sent"], 1);
    }

    #[tokio::test]
    async fn consumer_is_woken_even_if_it_registers_late() {
        let slot = UplinkSlot::default();
        slot.put(message(1), header());
        let notify = Arc::new(Notify::new());
        slot.set_consumer(Some(notify.clone()));
        tokio::time::timeout(Duration::from_secs(1), notify.notified())
            .await
            .expect("pending frame announced");
    }

    #[test]
    fn output_is_wanted_while_read_and_for_a_while_after() {
        let slot = OutputSlot::new(Arc::default());
        let now = Instant::now();
        assert!(!slot.wanted(now), "nobody asked yet");
        assert_eq!(
            slot.demand_changed(now, true),
            Some(false),
            "a new player is told"
        );
        assert_eq!(slot.demand_changed(now, false), None);
        let reader = slot.reader();
        let later = now + 10 * OUTPUT_LINGER;
        assert!(
            slot.wanted(later),
            "a waiting request is demand however long it waits"
        );
        assert_eq!(slot.demand_changed(later, false), Some(true));
        drop(reader);
        let ended = Instant::now();
        assert!(slot.wanted(ended + OUTPUT_LINGER / 2));
        assert!(!slot.wanted(ended + OUTPUT_LINGER));
        assert_eq!(
            slot.demand_changed(ended + OUTPUT_LINGER, false),
            Some(false)
        );
    }

    #[tokio::test]
    async fn a_frame_from_before_an_idle_spell_is_never_read() {
        let slot = OutputSlot::new(Arc::default());
        let old = slot.publish(&header(), Bytes::from_static(b"old"));
        assert_eq!(slot.demand_changed(Instant::now(), true), Some(false));
        let _reader = slot.reader();
        // Resumed long after the newest frame arrived: that frame is not handed out.
        let later = Instant::now() + 2 * STALE_AFTER;
        assert_eq!(slot.demand_changed(later, false), Some(true));
        let wait = Duration::from_millis(20);
        assert!(
            slot.newer_than(0, wait).await.is_none(),
            "frame {old} predates the resume"
        );
        let fresh = slot.publish(&header(), Bytes::from_static(b"new"));
        assert_eq!(slot.newer_than(0, wait).await.unwrap().sequence, fresh);

        // A frame that arrived just before the resume is current, and read.
        let slot = OutputSlot::new(Arc::default());
        assert_eq!(slot.demand_changed(Instant::now(), true), Some(false));
        let recent = slot.publish(&header(), Bytes::from_static(b"recent"));
        let _reader = slot.reader();
        assert_eq!(slot.demand_changed(Instant::now(), false), Some(true));
        assert_eq!(slot.newer_than(0, wait).await.unwrap().sequence, recent);
    }

    #[tokio::test]
    async fn output_readers_wait_for_a_newer_frame() {
        let frames = Arc::new(StreamFrames::default());
        assert!(
            frames
                .output
                .newer_than(0, Duration::from_millis(10))
                .await
                .is_none()
        );
        let reader = {
            let frames = frames.clone();
            tokio::spawn(async move { frames.output.newer_than(0, Duration::from_secs(5)).await })
        };
        frames
            .output
            .publish(&header(), Bytes::from_static(&[1; 6]));
        let got = reader.await.unwrap().unwrap();
        assert_eq!(got.sequence, 1);
        assert!(
            frames
                .output
                .newer_than(1, Duration::from_millis(10))
                .await
                .is_none()
        );
        assert_eq!(
            frames
                .output
                .newer_than(0, Duration::ZERO)
                .await
                .unwrap()
                .sequence,
            1
        );
    }
}
