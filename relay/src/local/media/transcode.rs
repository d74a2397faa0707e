//! The effect stage of one stream, on its own thread: decode the publisher's H.264, apply
//! the effect (or draw the reloading frame), encode, and hand the access units back to the
//! driver. Codec work never runs on the async workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::time::{Duration, Instant};

use openh264::OpenH264API;
use openh264::decoder::Decoder;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, RateControlMode,
};
use str0m::format::PayloadParams;
use str0m::media::MediaTime;
use tokio::sync::mpsc::UnboundedSender;

use crate::local::effect::{Control, Picture, Plan, Scratch, codec, kernels};

/// Highest output frame rate: like the service, input above it is thinned.
const MAX_FPS: f64 = 24.0;
/// A keyframe goes out at least this often, so late viewers and losses recover.
const KEYFRAME_INTERVAL: Duration = Duration::from_secs(2);
/// Access units waiting for the thread; beyond this the newest are dropped.
const QUEUE: usize = 32;
/// Keyframe requests from a decoder that lost sync are spaced this far apart.
const RESYNC_SPACING: Duration = Duration::from_millis(500);

/// One access unit from the publisher.
#[derive(Debug)]
pub(super) struct Unit {
    /// Annex B H.264.
    pub(super) data: Arc<[u8]>,
    /// RTP time of the frame.
    pub(super) time: MediaTime,
    /// When its first packet arrived.
    pub(super) network_time: Instant,
    /// The publisher's payload parameters (viewers get the same codec).
    pub(super) params: PayloadParams,
}

/// What the thread hands back to the driver.
#[derive(Debug)]
pub(super) enum Produced {
    /// An encoded output frame for the stream's viewers.
    Frame { stream: String, unit: Unit },
    /// The decoder needs a keyframe from the publisher.
    KeyframeWanted { stream: String },
}

/// The handle the driver keeps; dropping it ends the thread.
#[derive(Debug)]
pub(super) struct Transcoder {
    units: SyncSender<Unit>,
    force_keyframe: Arc<AtomicBool>,
}

impl Transcoder {
    /// Starts the thread for `stream`.
    pub(super) fn spawn(
        stream: String,
        control: Arc<Control>,
        out: UnboundedSender<Produced>,
    ) -> std::io::Result<Self> {
        let (units, receiver) = mpsc::sync_channel(QUEUE);
        let force_keyframe = Arc::new(AtomicBool::new(true));
        let flag = Arc::clone(&force_keyframe);
        std::thread::Builder::new()
            .name(format!("effect-{stream}"))
            .spawn(move || {
                if let Err(e) = run(&stream, &control, &receiver, &out, &flag) {
                    tracing::warn!(%stream, "effect stage stopped: {e}");
                }
            })?;
        Ok(Self {
            units,
            force_keyframe,
        })
    }

    /// Queues an access unit; `false` when the thread is behind and the unit was dropped
    /// (the decoder then needs a keyframe).
    pub(super) fn push(&self, unit: Unit) -> bool {
        self.units.try_send(unit).is_ok()
    }

    /// Makes the next output frame a keyframe (a viewer asked).
    pub(super) fn request_keyframe(&self) {
        self.force_keyframe.store(true, Ordering::Relaxed);
    }
}

/// Thins input to [`MAX_FPS`] by RTP time, letting a slightly early frame through so a
/// 30 fps source yields 24 fps rather than 15.
#[derive(Debug, Default)]
struct Pacer {
    due: Option<f64>,
}

impl Pacer {
    /// Whether the frame at `seconds` is taken.
    fn take(&mut self, seconds: f64) -> bool {
        let period = 1.0 / MAX_FPS;
        match self.due {
            Some(due) if seconds + 0.002 < due && due - seconds < 10.0 => false,
            // On schedule: the next slot follows this one.
            Some(due) if (due - seconds).abs() < period => {
                self.due = Some(due + period);
                true
            }
            // First frame, a slower source, or a jump in the clock (a new publisher).
            _ => {
                self.due = Some(seconds + period);
                true
            }
        }
    }
}

fn run(
    stream: &str,
    control: &Control,
    units: &Receiver<Unit>,
    out: &UnboundedSender<Produced>,
    force_keyframe: &AtomicBool,
) -> Result<(), openh264::Error> {
    let api = OpenH264API::from_source();
    let mut decoder = Decoder::new()?;
    let mut encoder = Encoder::with_api_config(api, encoder_config())?;
    let mut pacer = Pacer::default();
    let mut picture = Picture::new(0, 0);
    let mut scratch = Scratch::default();
    let mut last_keyframe: Option<Instant> = None;
    let mut last_resync: Option<Instant> = None;
    let mut encoded_size = (0, 0);
    while let Ok(first) = units.recv() {
        // Newest frame wins: decode everything queued (references need it), process the last.
        let batch: Vec<Unit> = std::iter::once(first).chain(units.try_iter()).collect();
        let last = batch.len() - 1;
        let mut latest = None;
        let now = Instant::now();
        let plan = control.plan(now);
        for (index, unit) in batch.into_iter().enumerate() {
            match decoder.decode(&unit.data) {
                Ok(Some(yuv)) => {
                    if index < last {
                        continue;
                    }
                    if let Plan::Effect { width, height, .. } = &plan {
                        if (picture.width, picture.height) != (*width, *height) {
                            picture = Picture::new(*width, *height);
                        }
                        codec::scale_decoded(&yuv, &mut picture);
                    }
                    latest = Some(unit);
                }
                Ok(None) => {}
                Err(e) => {
                    if last_resync.is_none_or(|t| now.duration_since(t) >= RESYNC_SPACING) {
                        tracing::debug!(%stream, "decode failed, asking for a keyframe: {e}");
                        last_resync = Some(now);
                        if out
                            .send(Produced::KeyframeWanted {
                                stream: stream.to_owned(),
                            })
                            .is_err()
                        {
                            return Ok(());
                        }
                    }
                }
            }
        }
        let Some(unit) = latest.filter(|u| pacer.take(u.time.as_seconds())) else {
            continue;
        };
        match plan {
            Plan::Passthrough => continue,
            Plan::Reloading {
                width,
                height,
                progress,
            } => {
                if (picture.width, picture.height) != (width, height) {
                    picture = Picture::new(width, height);
                }
                kernels::reloading(&mut picture, progress);
            }
            Plan::Effect { look, .. } => kernels::apply(&look, &mut picture, &mut scratch),
        }
        let keyframe_due = last_keyframe.is_none_or(|t| now.duration_since(t) >= KEYFRAME_INTERVAL);
        // A new size starts a new sequence: viewers can only decode it from a keyframe.
        let resized = encoded_size != (picture.width, picture.height);
        encoded_size = (picture.width, picture.height);
        if force_keyframe.swap(false, Ordering::Relaxed) || keyframe_due || resized {
            encoder.force_intra_frame();
            last_keyframe = Some(now);
        }
        let data = encoder.encode(&codec::as_source(&picture))?.to_vec();
        if data.is_empty() {
            continue;
        }
        let frame = Unit {
            data: data.into(),
            ..unit
        };
        if out
            .send(Produced::Frame {
                stream: stream.to_owned(),
                unit: frame,
            })
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

fn encoder_config() -> EncoderConfig {
    EncoderConfig::new()
        // About 0.25 bit per pixel at 512² and 24 fps: clean enough to see the effect.
        .bitrate(BitRate::from_bps(1_500_000))
        .max_frame_rate(FrameRate::from_hz(MAX_FPS as f32))
        .rate_control_mode(RateControlMode::Bitrate)
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(
            (MAX_FPS * KEYFRAME_INTERVAL.as_secs_f64()) as u32,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirty_fps_input_leaves_twenty_four() {
        let mut pacer = Pacer::default();
        let taken = (0..300)
            .filter(|&i| pacer.take(f64::from(i) / 30.0))
            .count();
        assert!(
            (235..=245).contains(&taken),
            "{taken} of 300 frames at 30 fps"
        );
    }

    #[test]
    fn slower_input_is_taken_whole_and_a_clock_jump_restarts() {
        let mut pacer = Pacer::default();
        assert!((0..100).all(|i| pacer.take(f64::from(i) / 10.0)));
        assert!(pacer.take(5000.0));
        assert!(!pacer.take(5000.01));
        assert!(pacer.take(1.0), "a new publisher's clock starts over");
    }
}
