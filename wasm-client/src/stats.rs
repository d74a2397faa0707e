//! Turns `RTCStatsReport`s into the protocol's [`StreamStats`]: raw cumulative counters are
//! read from the report, rates come from the difference between two samples.

use rtc_protocol::{AgentRole, StreamStats};
use wasm_bindgen::JsValue;

use crate::js;

/// Cumulative counters from one report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Report time, ms.
    pub timestamp_ms: f64,
    /// Frames encoded (publisher) or decoded (player).
    pub frames: Option<u64>,
    /// Frames dropped by the receiver.
    pub frames_dropped: Option<u64>,
    /// Payload bytes sent or received.
    pub bytes: Option<u64>,
    /// Browser-computed frame rate.
    pub fps: Option<f64>,
    /// Seconds spent encoding or decoding, summed.
    pub total_codec_s: Option<f64>,
    /// Jitter buffer delay, summed, s.
    pub jitter_buffer_delay_s: Option<f64>,
    /// Frames that left the jitter buffer.
    pub jitter_buffer_emitted: Option<u64>,
    /// Current round-trip time, s.
    pub rtt_s: Option<f64>,
    /// MIME type of the codec.
    pub codec: Option<String>,
    /// Encoder or decoder implementation.
    pub implementation: Option<String>,
    /// Frame size.
    pub width: Option<u32>,
    /// Frame size.
    pub height: Option<u32>,
    /// `qualityLimitationReason` unless `none`.
    pub quality_limitation: Option<String>,
}

fn count(entry: &JsValue, key: &str) -> Option<u64> {
    js::number(entry, key).map(|v| v as u64)
}

/// Reads the counters of the video RTP stream of `role` from a `getStats()` result.
pub fn read_report(report: &JsValue, role: AgentRole) -> Sample {
    let mut sample = Sample::default();
    let mut codec_id = None;
    let mut entries = Vec::new();
    // RTCStatsReport is map-like but not a Map: read it through its `values()` iterator.
    if let Ok(values) = js::call(report, "values", &[]) {
        entries.extend(js_sys::Array::from(&values).iter());
    }
    let rtp_type = match role {
        AgentRole::Publisher => "outbound-rtp",
        AgentRole::Player => "inbound-rtp",
    };
    for entry in &entries {
        let kind = js::string(entry, "kind");
        match js::string(entry, "type").as_deref() {
            Some(t) if t == rtp_type && kind.as_deref() != Some("audio") => {
                sample.timestamp_ms = js::number(entry, "timestamp").unwrap_or_default();
                let (frames_key, bytes_key, codec_time, implementation) = match role {
                    AgentRole::Publisher => (
                        "framesEncoded",
                        "bytesSent",
                        "totalEncodeTime",
                        "encoderImplementation",
                    ),
                    AgentRole::Player => (
                        "framesDecoded",
                        "bytesReceived",
                        "totalDecodeTime",
                        "decoderImplementation",
                    ),
                };
                sample.frames = count(entry, frames_key);
                sample.bytes = count(entry, bytes_key);
                sample.total_codec_s = js::number(entry, codec_time);
                sample.implementation = js::string(entry, implementation);
                sample.frames_dropped = count(entry, "framesDropped");
                sample.fps = js::number(entry, "framesPerSecond");
                sample.jitter_buffer_delay_s = js::number(entry, "jitterBufferDelay");
                sample.jitter_buffer_emitted = count(entry, "jitterBufferEmittedCount");
                sample.width = js::number(entry, "frameWidth").map(|v| v as u32);
                sample.height = js::number(entry, "frameHeight").map(|v| v as u32);
                sample.quality_limitation =
                    js::string(entry, "qualityLimitationReason").filter(|r| r != "none");
                codec_id = js::string(entry, "codecId");
            }
            Some("candidate-pair") if js::get(entry, "nominated").as_bool() == Some(true) => {
                if let Some(rtt) = js::number(entry, "currentRoundTripTime") {
                    sample.rtt_s = Some(rtt);
                }
            }
            _ => {}
        }
    }
    if let Some(id) = codec_id {
        sample.codec = entries
            .iter()
            .find(|e| js::string(e, "id").as_deref() == Some(id.as_str()))
            .and_then(|e| js::string(e, "mimeType"));
    }
    sample
}

/// Keeps the previous sample to turn counters into rates.
#[derive(Debug, Default)]
pub struct Sampler {
    previous: Option<Sample>,
}

fn delta<T: Copy + Into<f64>>(now: Option<T>, before: Option<T>) -> Option<f64> {
    Some(now?.into() - before?.into())
}

impl Sampler {
    /// Figures since the previous call.
    pub fn derive(&mut self, now: Sample) -> StreamStats {
        let before = self.previous.take().unwrap_or_default();
        let dt_s = (now.timestamp_ms - before.timestamp_ms) / 1000.0;
        let frames_f = |s: &Sample| s.frames.map(|f| f as f64);
        let d_frames = delta(frames_f(&now), frames_f(&before)).filter(|d| *d > 0.0);
        let bytes_f = |s: &Sample| s.bytes.map(|b| b as f64);
        let bitrate = delta(bytes_f(&now), bytes_f(&before))
            .filter(|_| dt_s > 0.0)
            .map(|d| d * 8.0 / 1000.0 / dt_s);
        let emitted_f = |s: &Sample| s.jitter_buffer_emitted.map(|f| f as f64);
        let jitter = delta(now.jitter_buffer_delay_s, before.jitter_buffer_delay_s)
            .zip(delta(emitted_f(&now), emitted_f(&before)).filter(|d| *d > 0.0))
            .map(|(delay, n)| delay / n * 1000.0);
        let codec_ms = delta(now.total_codec_s, before.total_codec_s)
            .zip(d_frames)
            .map(|(t, n)| t / n * 1000.0);
        let fps = now
            .fps
            .or_else(|| d_frames.filter(|_| dt_s > 0.0).map(|n| n / dt_s));
        let mut stats = StreamStats {
            frames: now.frames,
            frames_dropped: now.frames_dropped,
            fps,
            bitrate_kbps: bitrate,
            rtt_ms: now.rtt_s.map(|s| s * 1000.0),
            jitter_buffer_ms: jitter,
            codec: now.codec.clone(),
            implementation: now.implementation.clone(),
            width: now.width,
            height: now.height,
            quality_limitation: now.quality_limitation.clone(),
            ..StreamStats::default()
        };
        if now.jitter_buffer_emitted.is_some() {
            stats.decode_ms = codec_ms;
        } else {
            stats.encode_ms = codec_ms;
        }
        self.previous = Some(now);
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_deltas() {
        let mut sampler = Sampler::default();
        let first = Sample {
            timestamp_ms: 1000.0,
            frames: Some(30),
            bytes: Some(100_000),
            total_codec_s: Some(0.3),
            ..Sample::default()
        };
        let stats = sampler.derive(first);
        assert_eq!(stats.frames, Some(30));
        let second = Sample {
            timestamp_ms: 2000.0,
            frames: Some(60),
            bytes: Some(350_000),
            total_codec_s: Some(0.45),
            ..Sample::default()
        };
        let stats = sampler.derive(second);
        assert_eq!(stats.fps, Some(30.0));
        assert_eq!(stats.bitrate_kbps, Some(2000.0));
        assert!((stats.encode_ms.unwrap() - 5.0).abs() < 1e-9);
        assert_eq!(stats.decode_ms, None);
    }

    #[test]
    fn jitter_buffer_delay_is_per_frame() {
        let mut sampler = Sampler::default();
        let s = |t: f64, delay: f64, n: u64| Sample {
            timestamp_ms: t,
            jitter_buffer_delay_s: Some(delay),
            jitter_buffer_emitted: Some(n),
            ..Sample::default()
        };
        sampler.derive(s(0.0, 1.0, 100));
        let stats = sampler.derive(s(1000.0, 1.3, 130));
        assert!((stats.jitter_buffer_ms.unwrap() - 10.0).abs() < 1e-9);
    }
}
