//! P7, the local backend's effect stage per 512² frame: decode + effect + encode (what the
//! stage does to every frame it takes), against decode + encode alone in the same run (the
//! codec baseline), and the effect kernels on their own.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use openh264::OpenH264API;
use openh264::decoder::Decoder;
use openh264::encoder::{Encoder, EncoderConfig, IntraFramePeriod};
use rtc_relay::local::effect::{EffectParams, Look, Picture, Scratch, codec, kernels};
use serde_json::json;

const SIDE: usize = 512;
/// Frames in the looped input: two GOPs, so decoding can wrap around at a keyframe.
const FRAMES: usize = 48;

fn encoder() -> Encoder {
    let config = EncoderConfig::new().intra_frame_period(IntraFramePeriod::from_num_frames(24));
    Encoder::with_api_config(OpenH264API::from_source(), config).unwrap()
}

/// A moving, textured 512² input as H.264 access units.
fn input() -> Vec<Vec<u8>> {
    let mut encoder = encoder();
    let mut picture = Picture::new(SIDE, SIDE);
    (0..FRAMES)
        .map(|frame| {
            for y in 0..SIDE {
                for x in 0..SIDE {
                    let checker = ((x + frame * 4) / 24 + y / 24).is_multiple_of(2);
                    let ramp = ((x + y) * 100 / (2 * SIDE)) as u8;
                    picture.y[y * SIDE + x] = if checker { 50 + ramp } else { 120 + ramp };
                }
            }
            if frame % 24 == 0 {
                encoder.force_intra_frame();
            }
            encoder
                .encode(&codec::as_source(&picture))
                .unwrap()
                .to_vec()
        })
        .collect()
}

/// The default params' look with an edge and a depth ControlNet: the costliest settings.
fn look() -> Look {
    EffectParams::from_params(&json!({
        "model_id": "stabilityai/sdxl-turbo",
        "prompt": "neon city",
        "t_index_list": [8, 16, 24, 32],
        "controlnets": [
            {"model_id": "xinsir/controlnet-canny-sdxl-1.0", "conditioning_scale": 0.6},
            {"model_id": "xinsir/controlnet-depth-sdxl-1.0", "conditioning_scale": 0.4},
        ],
    }))
    .look
    .unwrap()
}

/// Decodes the next input frame into `picture` (scaled to its size).
fn decode_into(decoder: &mut Decoder, unit: &[u8], picture: &mut Picture) {
    codec::scale_decoded(&decoder.decode(unit).unwrap().unwrap(), picture);
}

fn per_frame(c: &mut Criterion) {
    let units = input();
    let look = look();
    let mut group = c.benchmark_group("effect_stage_512");
    for (name, with_effect) in [("decode_encode", false), ("decode_effect_encode", true)] {
        let mut decoder = Decoder::new().unwrap();
        let mut encoder = encoder();
        let mut picture = Picture::new(SIDE, SIDE);
        let mut scratch = Scratch::default();
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                decode_into(&mut decoder, &units[next], &mut picture);
                next = (next + 1) % units.len();
                if with_effect {
                    kernels::apply(&look, &mut picture, &mut scratch);
                }
                black_box(
                    encoder
                        .encode(&codec::as_source(&picture))
                        .unwrap()
                        .to_vec(),
                )
            });
        });
    }
    let mut picture = Picture::new(SIDE, SIDE);
    decode_into(&mut Decoder::new().unwrap(), &units[0], &mut picture);
    let mut scratch = Scratch::default();
    group.bench_function("effect_only", |b| {
        b.iter(|| {
            let mut frame = picture.clone();
            kernels::apply(&look, &mut frame, &mut scratch);
            black_box(frame)
        });
    });
    group.finish();
}

criterion_group!(benches, per_frame);
criterion_main!(benches);
