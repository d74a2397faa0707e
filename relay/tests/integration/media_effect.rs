//! The local backend's effect stage end to end: a str0m publisher sends real H.264 through
//! the relay's WHIP, a str0m viewer decodes what WHEP delivers, and params changed with
//! PATCH on the local REST change the decoded pictures.

use crate::common;
use crate::media_support;

use std::time::Duration;

use common::Relay;
use media_support::{PeerEvent, TestPeer, connect};
use openh264::decoder::Decoder;
use openh264::encoder::{Encoder, EncoderConfig, IntraFramePeriod};
use openh264::formats::{YUVSlices, YUVSource};
use rtc_relay::local::effect::Picture;
use rtc_relay::local::effect::kernels::is_reloading;
use rtc_relay::local::media::{whep_path, whip_path};
use serde_json::{Value, json};
use str0m::media::Direction;

/// Reloads in these tests take this long: longer than the 2 s keyframe interval, so a
/// viewer that lost the first keyframe at the new size still sees reloading frames.
const RELOAD_MS: u64 = 2_500;
/// The publisher's frame interval (25 fps).
const FRAME_INTERVAL: Duration = Duration::from_millis(40);

/// A moving, textured test picture encoded with openh264, grey chroma throughout: any
/// colour in the output comes from the effect.
struct Source {
    encoder: Encoder,
    picture: Picture,
    frame: u32,
}

impl Source {
    fn new() -> Self {
        let config = EncoderConfig::new().intra_frame_period(IntraFramePeriod::from_num_frames(25));
        Self {
            encoder: Encoder::with_api_config(openh264::OpenH264API::from_source(), config)
                .unwrap(),
            picture: Picture::new(320, 240),
            frame: 0,
        }
    }

    fn next(&mut self, keyframe: bool) -> Vec<u8> {
        let (w, h) = (self.picture.width, self.picture.height);
        let shift = self.frame as usize * 3;
        for y in 0..h {
            for x in 0..w {
                let checker = ((x + shift) / 16 + y / 16).is_multiple_of(2);
                let ramp = (x * 120 / w) as u8;
                self.picture.y[y * w + x] = if checker { 60 + ramp } else { 110 + ramp };
            }
        }
        self.frame += 1;
        if keyframe {
            self.encoder.force_intra_frame();
        }
        let cw = self.picture.chroma_width();
        let source = YUVSlices::new(
            (&self.picture.y, &self.picture.u, &self.picture.v),
            (w, h),
            (w, cw, cw),
        );
        self.encoder.encode(&source).unwrap().to_vec()
    }
}

/// Decodes what a viewer receives.
struct Sink {
    decoder: Decoder,
}

impl Sink {
    fn new() -> Self {
        Self {
            decoder: Decoder::new().unwrap(),
        }
    }

    fn decode(&mut self, data: &[u8]) -> Option<Picture> {
        let yuv = self.decoder.decode(data).ok()??;
        let (w, h) = yuv.dimensions();
        let (cw, ch) = yuv.dimensions_uv();
        let (sy, su, sv) = yuv.strides();
        let rows = |plane: &[u8], stride: usize, width: usize, height: usize| -> Vec<u8> {
            (0..height)
                .flat_map(|r| plane[r * stride..r * stride + width].iter().copied())
                .collect()
        };
        Some(Picture {
            width: w,
            height: h,
            y: rows(yuv.y(), sy, w, h),
            u: rows(yuv.u(), su, cw, ch),
            v: rows(yuv.v(), sv, cw, ch),
        })
    }
}

/// Mean (U, V) of a picture.
fn chroma(p: &Picture) -> (f64, f64) {
    let mean = |plane: &[u8]| plane.iter().map(|&c| f64::from(c)).sum::<f64>() / plane.len() as f64;
    (mean(&p.u), mean(&p.v))
}

fn chroma_distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    (a.0 - b.0).abs() + (a.1 - b.1).abs()
}

/// A stream on the relay's local backend with a connected publisher and viewer.
struct Session {
    relay: Relay,
    id: String,
    publisher: TestPeer,
    viewer: TestPeer,
    source: Source,
    sink: Sink,
    sent: Vec<Vec<u8>>,
}

impl Session {
    async fn start(params: Value) -> Self {
        let relay = Relay::start_with(|c| c.local_reload_ms = RELOAD_MS).await;
        let created = relay
            .local(reqwest::Method::POST, "/v1/streams")
            .json(&json!({"pipeline": "streamdiffusion", "params": params}))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201);
        let stream: Value = created.json().await.unwrap();
        let key = stream["stream_key"].as_str().unwrap().to_owned();
        let id = stream["id"].as_str().unwrap().to_owned();
        let mut publisher = connect(
            &relay.url(&format!("/local{}", whip_path(&key))),
            Direction::SendOnly,
        )
        .await;
        publisher
            .wait_for("publisher connected", |e| *e == PeerEvent::Connected)
            .await;
        let mut source = Source::new();
        let mut sent = Vec::new();
        // Like a Daydream client, play once the stream is ONLINE.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let frame = source.next(source.frame.is_multiple_of(10));
            publisher.send_frame(frame.clone());
            sent.push(frame);
            let status: Value = relay
                .local(reqwest::Method::GET, &format!("/v1/streams/{id}/status"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if status["data"]["state"] == "ONLINE" {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never ONLINE: {status}"
            );
            tokio::time::sleep(FRAME_INTERVAL).await;
        }
        let mut viewer = connect(
            &relay.url(&format!("/local{}", whep_path(&key))),
            Direction::RecvOnly,
        )
        .await;
        viewer
            .wait_for("viewer connected", |e| *e == PeerEvent::Connected)
            .await;
        Self {
            relay,
            id,
            publisher,
            viewer,
            source,
            sink: Sink::new(),
            sent,
        }
    }

    /// Sends the next source frame (a keyframe when the server asked for one).
    fn send(&mut self) {
        let mut keyframe = self.source.frame == 0;
        while let Ok(event) = self.publisher.events.try_recv() {
            keyframe |= event == PeerEvent::KeyframeRequested;
        }
        let frame = self.source.next(keyframe);
        self.publisher.send_frame(frame.clone());
        self.sent.push(frame);
    }

    /// Streams until `done` accepts a decoded output picture; returns every picture decoded
    /// on the way, that one last.
    async fn until(&mut self, what: &str, mut done: impl FnMut(&Picture) -> bool) -> Vec<Picture> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut tick = tokio::time::interval(FRAME_INTERVAL);
        let mut seen = Vec::new();
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
                    self.send();
                }
                event = self.viewer.events.recv() => {
                    let Some(event) = event else { panic!("viewer ended before {what}") };
                    if let PeerEvent::Frame(data, _) = event
                        && let Some(picture) = self.sink.decode(&data)
                    {
                        let finished = done(&picture);
                        seen.push(picture);
                        if finished {
                            return seen;
                        }
                    }
                }
            }
        }
    }

    /// Streams until a received frame is byte for byte one that was sent.
    async fn until_forwarded_unchanged(&mut self) -> usize {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut tick = tokio::time::interval(FRAME_INTERVAL);
        let mut received = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    assert!(tokio::time::Instant::now() < deadline, "no frame arrived unchanged");
                    self.send();
                }
                event = self.viewer.events.recv() => {
                    if let Some(PeerEvent::Frame(data, _)) = event {
                        received += 1;
                        if self.sent.contains(&data) {
                            return received;
                        }
                    }
                }
            }
        }
    }

    async fn patch(&self, params: Value) {
        let response = self
            .relay
            .local(reqwest::Method::PATCH, &format!("/v1/streams/{}", self.id))
            .json(&json!({"pipeline": "streamdiffusion", "params": params}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

fn base_params() -> Value {
    json!({"model_id": "stabilityai/sdxl-turbo", "prompt": "neon city", "width": 384,
        "height": 384, "t_index_list": [8, 16], "num_inference_steps": 50})
}

/// A picture the effect made: the right size, not the reloading frame, coloured although
/// the input is grey.
fn effect_picture(p: &Picture, size: (usize, usize)) -> bool {
    (p.width, p.height) == size
        && !is_reloading(p)
        && chroma_distance(chroma(p), (128.0, 128.0)) > 12.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_patch_changes_the_picture_within_a_few_frames() {
    let mut session = Session::start(base_params()).await;
    let before = session
        .until("the effect", |p| effect_picture(p, (384, 384)))
        .await;
    let before = chroma(before.last().unwrap());

    session
        .patch(json!({"model_id": "stabilityai/sdxl-turbo", "prompt": "forest at dawn"}))
        .await;
    let seen = session
        .until("the new prompt's palette", |p| {
            chroma_distance(chroma(p), before) > 12.0
        })
        .await;
    assert!(
        seen.len() <= 12,
        "the prompt took {} frames to show",
        seen.len()
    );
    assert!(
        seen.iter()
            .all(|p| !is_reloading(p) && (p.width, p.height) == (384, 384)),
        "a prompt change is hot: no reload, no size change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_size_change_shows_reloading_frames_then_the_new_size() {
    let mut session = Session::start(base_params()).await;
    session
        .until("the effect", |p| effect_picture(p, (384, 384)))
        .await;

    session
        .patch(json!({"model_id": "stabilityai/sdxl-turbo", "width": 512, "height": 448}))
        .await;
    let started = std::time::Instant::now();
    session.until("a reloading frame", is_reloading).await;
    session
        .until("the new size", |p| effect_picture(p, (512, 448)))
        .await;
    assert!(
        started.elapsed() >= Duration::from_millis(RELOAD_MS - 100),
        "the reload lasted only {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloading_frames_can_be_turned_off() {
    let mut params = base_params();
    params["show_reloading_frame"] = json!(false);
    let mut session = Session::start(params).await;
    session
        .until("the effect", |p| effect_picture(p, (384, 384)))
        .await;

    session
        .patch(json!({"model_id": "stabilityai/sdxl-turbo", "width": 448, "height": 448}))
        .await;
    let seen = session
        .until("the new size", |p| effect_picture(p, (448, 448)))
        .await;
    assert!(
        !seen.iter().any(is_reloading),
        "no reloading frame was asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_diffusion_forwards_the_input_unchanged() {
    let mut params = base_params();
    params["skip_diffusion"] = json!(true);
    let mut session = Session::start(params).await;
    let received = session.until_forwarded_unchanged().await;
    assert!(
        received <= 3,
        "{received} frames before one arrived unchanged"
    );

    // Turned off mid-stream, the effect takes over; turned on again, the input comes back.
    session
        .patch(json!({"model_id": "stabilityai/sdxl-turbo", "skip_diffusion": false}))
        .await;
    session
        .until("the effect", |p| effect_picture(p, (384, 384)))
        .await;
    session
        .patch(json!({"model_id": "stabilityai/sdxl-turbo", "skip_diffusion": true}))
        .await;
    session.until_forwarded_unchanged().await;
    let last = session.until("the input picture", |_| true).await;
    assert_eq!(
        (last[0].width, last[0].height),
        (320, 240),
        "the input's own size"
    );
}
