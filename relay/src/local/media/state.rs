//! State shared by the HTTP handlers and the UDP driver: which streams are open, who
//! publishes and views them, and packet counters.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::MediaStatus;
use super::error::MediaError;
use super::signaling::Role;
use crate::leases::MAX_VIEWERS;
use crate::local::effect::Control;

/// How recent the last video packet must be for media to count as flowing.
const FLOWING_WINDOW: Duration = Duration::from_secs(1);

/// How many forwarding-delay samples are kept (the newest win).
const DELAY_SAMPLES: usize = 65_536;

/// Per-stream packet counters, updated by the driver without taking the registry lock.
#[derive(Debug)]
pub(super) struct StreamCounters {
    epoch: Instant,
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    /// Microseconds after `epoch` of the last video packet, plus one (0 = none yet).
    last_packet_at: AtomicU64,
}

impl StreamCounters {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            packets_in: AtomicU64::new(0),
            packets_out: AtomicU64::new(0),
            last_packet_at: AtomicU64::new(0),
        }
    }

    /// Records `packets` video packets received from the publisher at `at`.
    pub(super) fn received(&self, packets: u64, at: Instant) {
        self.packets_in.fetch_add(packets, Ordering::Relaxed);
        let micros = at.saturating_duration_since(self.epoch).as_micros();
        let stamp = u64::try_from(micros).unwrap_or(u64::MAX - 1) + 1;
        self.last_packet_at.fetch_max(stamp, Ordering::Relaxed);
    }

    /// Records `packets` video packets handed to one viewer.
    pub(super) fn forwarded(&self, packets: u64) {
        self.packets_out.fetch_add(packets, Ordering::Relaxed);
    }

    fn flowing(&self, now: Instant) -> bool {
        match self.last_packet_at.load(Ordering::Relaxed) {
            0 => false,
            stamp => {
                let last = self.epoch + Duration::from_micros(stamp - 1);
                now.saturating_duration_since(last) <= FLOWING_WINDOW
            }
        }
    }
}

#[derive(Debug)]
struct StreamEntry {
    publisher: Option<String>,
    viewers: HashSet<String>,
    counters: Arc<StreamCounters>,
    control: Arc<Control>,
}

/// Open streams and their sessions.
#[derive(Debug, Default)]
pub(super) struct Registry {
    streams: Mutex<HashMap<String, StreamEntry>>,
    delays: Mutex<DelaySamples>,
    /// How long a reload shows the reloading frame.
    reload_time: Duration,
}

impl Registry {
    /// A registry whose streams show the reloading frame for `reload_time`.
    pub(super) fn new(reload_time: Duration) -> Self {
        Self {
            reload_time,
            ..Self::default()
        }
    }

    fn streams(&self) -> MutexGuard<'_, HashMap<String, StreamEntry>> {
        // A panic while holding the lock cannot leave the map half-updated: every
        // critical section is a single insert or remove.
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens `key` with its params; an already open stream keeps its sessions and takes
    /// the params as an update.
    pub(super) fn open(&self, key: &str, params: &Value) {
        let mut streams = self.streams();
        match streams.get(key) {
            Some(entry) => entry.control.update(params, Instant::now()),
            None => {
                streams.insert(
                    key.to_owned(),
                    StreamEntry {
                        publisher: None,
                        viewers: HashSet::new(),
                        counters: Arc::new(StreamCounters::new()),
                        control: Arc::new(Control::new(params, self.reload_time)),
                    },
                );
            }
        }
    }

    /// Applies updated params to `key`; returns whether it is open.
    pub(super) fn update(&self, key: &str, params: &Value) -> bool {
        let control = self.streams().get(key).map(|e| Arc::clone(&e.control));
        control
            .inspect(|c| c.update(params, Instant::now()))
            .is_some()
    }

    /// The effect params of `key`.
    pub(super) fn control(&self, key: &str) -> Option<Arc<Control>> {
        self.streams().get(key).map(|e| Arc::clone(&e.control))
    }

    /// Forgets `key`; returns whether it was open.
    pub(super) fn close(&self, key: &str) -> bool {
        self.streams().remove(key).is_some()
    }

    /// Makes `session` the stream's publisher; returns the replaced publisher, if any.
    pub(super) fn add_publisher(
        &self,
        key: &str,
        session: &str,
    ) -> Result<(Option<String>, Arc<StreamCounters>), MediaError> {
        let mut streams = self.streams();
        let entry = streams.get_mut(key).ok_or(MediaError::UnknownStream)?;
        let replaced = entry.publisher.replace(session.to_owned());
        Ok((replaced, Arc::clone(&entry.counters)))
    }

    /// Adds a viewer; fails with [`MediaError::NoPublisher`] while nobody publishes.
    pub(super) fn add_viewer(
        &self,
        key: &str,
        session: &str,
    ) -> Result<Arc<StreamCounters>, MediaError> {
        let mut streams = self.streams();
        let entry = streams.get_mut(key).ok_or(MediaError::UnknownStream)?;
        if entry.publisher.is_none() {
            return Err(MediaError::NoPublisher);
        }
        if entry.viewers.len() >= MAX_VIEWERS {
            return Err(MediaError::TooManyViewers { limit: MAX_VIEWERS });
        }
        entry.viewers.insert(session.to_owned());
        Ok(Arc::clone(&entry.counters))
    }

    /// Removes a session; returns whether it existed.
    pub(super) fn remove_session(&self, key: &str, session: &str, role: Role) -> bool {
        let mut streams = self.streams();
        let Some(entry) = streams.get_mut(key) else {
            return false;
        };
        match role {
            Role::Publisher if entry.publisher.as_deref() == Some(session) => {
                entry.publisher = None;
                true
            }
            Role::Publisher => false,
            Role::Viewer => entry.viewers.remove(session),
        }
    }

    /// Whether `key` is open and has a publisher.
    pub(super) fn has_publisher(&self, key: &str) -> bool {
        self.streams()
            .get(key)
            .is_some_and(|entry| entry.publisher.is_some())
    }

    /// Media state of `key`.
    pub(super) fn status(&self, key: &str) -> Option<MediaStatus> {
        let streams = self.streams();
        let entry = streams.get(key)?;
        Some(MediaStatus {
            publisher_connected: entry.publisher.is_some(),
            media_flowing: entry.publisher.is_some() && entry.counters.flowing(Instant::now()),
            viewers: entry.viewers.len(),
            packets_in: entry.counters.packets_in.load(Ordering::Relaxed),
            packets_out: entry.counters.packets_out.load(Ordering::Relaxed),
        })
    }

    /// Records one forwarded access unit: `newest` is how long the packet that completed
    /// it spent inside the server, `oldest` the same for its first packet.
    pub(super) fn record_forwarding_delay(&self, newest: Duration, oldest: Duration) {
        let mut guard = self.delays.lock().unwrap_or_else(|e| e.into_inner());
        let delays = &mut *guard;
        for (samples, delay) in [
            (&mut delays.last_packet, newest),
            (&mut delays.first_packet, oldest),
        ] {
            if samples.len() == DELAY_SAMPLES {
                samples.pop_front();
            }
            samples.push_back(u32::try_from(delay.as_micros()).unwrap_or(u32::MAX));
        }
    }

    /// Takes the recorded forwarding delays, oldest sample first.
    pub(super) fn take_forwarding_delays(&self) -> ForwardingDelays {
        let mut delays = self.delays.lock().unwrap_or_else(|e| e.into_inner());
        ForwardingDelays {
            last_packet_us: delays.last_packet.drain(..).collect(),
            first_packet_us: delays.first_packet.drain(..).collect(),
        }
    }
}

#[derive(Debug, Default)]
struct DelaySamples {
    last_packet: VecDeque<u32>,
    first_packet: VecDeque<u32>,
}

/// How long forwarded video spent inside the server, per access unit, in microseconds.
///
/// Whole access units are forwarded, so a packet waits for the rest of its frame:
/// `last_packet_us` (receive of the packet completing a frame → its forwarded packets sent)
/// is the server's own cost and the shortest wait of any packet; `first_packet_us` (receive
/// of the frame's first packet → sent) is the longest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardingDelays {
    /// Per access unit: its last packet in → forwarded out.
    pub last_packet_us: Vec<u32>,
    /// Per access unit: its first packet in → forwarded out.
    pub first_packet_us: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn params_reach_the_stream_control() {
        let registry = Registry::default();
        assert!(!registry.update("k", &json!({"skip_diffusion": true})));
        registry.open("k", &json!({"skip_diffusion": true}));
        assert!(registry.control("k").unwrap().passthrough());
        assert!(registry.update("k", &json!({"skip_diffusion": false})));
        assert!(!registry.control("k").unwrap().passthrough());
        registry.open("k", &json!({"skip_diffusion": true}));
        assert!(registry.control("k").unwrap().passthrough());
    }

    #[test]
    fn viewer_needs_an_open_stream_and_a_publisher() {
        let registry = Registry::default();
        assert_eq!(
            registry.add_viewer("k", "v").unwrap_err(),
            MediaError::UnknownStream
        );
        registry.open("k", &Value::Null);
        assert_eq!(
            registry.add_viewer("k", "v").unwrap_err(),
            MediaError::NoPublisher
        );
        registry.add_publisher("k", "p").unwrap();
        registry.add_viewer("k", "v").unwrap();
        let status = registry.status("k").unwrap();
        assert!(status.publisher_connected);
        assert_eq!(status.viewers, 1);
    }

    #[test]
    fn a_sixth_viewer_is_refused_until_one_leaves() {
        let registry = Registry::default();
        registry.open("k", &Value::Null);
        registry.add_publisher("k", "p").unwrap();
        for i in 0..MAX_VIEWERS {
            registry.add_viewer("k", &format!("v{i}")).unwrap();
        }
        assert_eq!(
            registry.add_viewer("k", "late").unwrap_err(),
            MediaError::TooManyViewers { limit: MAX_VIEWERS }
        );
        assert!(registry.remove_session("k", "v0", Role::Viewer));
        registry.add_viewer("k", "late").unwrap();
    }

    #[test]
    fn a_replaced_publisher_cannot_remove_its_successor() {
        let registry = Registry::default();
        registry.open("k", &Value::Null);
        registry.add_publisher("k", "old").unwrap();
        let (replaced, _) = registry.add_publisher("k", "new").unwrap();
        assert_eq!(replaced.as_deref(), Some("old"));
        assert!(!registry.remove_session("k", "old", Role::Publisher));
        assert!(registry.status("k").unwrap().publisher_connected);
        assert!(registry.remove_session("k", "new", Role::Publisher));
        assert!(!registry.remove_session("k", "new", Role::Publisher));
    }

    #[test]
    fn media_flows_only_after_recent_packets() {
        let registry = Registry::default();
        registry.open("k", &Value::Null);
        let (_, counters) = registry.add_publisher("k", "p").unwrap();
        assert!(!registry.status("k").unwrap().media_flowing);
        counters.received(3, Instant::now());
        let status = registry.status("k").unwrap();
        assert!(status.media_flowing);
        assert_eq!(status.packets_in, 3);
        assert!(!counters.flowing(Instant::now() + Duration::from_secs(2)));
    }
}
