//! Frame hub throughput: the per-frame work of `POST /frames` → agent socket (copy the body
//! into a message with header room, put it in the uplink slot, take it for the socket) and
//! of player → `GET /output` (publish, read the newest), and the pixel conversions either may
//! add, beside a plain copy of the same frame as the reference.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rtc_protocol::{FRAME_HEADER_LEN, FrameHeader, PixelFormat};
use rtc_relay::hub::StreamFrames;
use tokio::sync::Notify;

fn header(width: u32, height: u32, format: PixelFormat) -> FrameHeader {
    FrameHeader {
        stream_index: 1,
        sequence: 0,
        capture_us: 0,
        width,
        height,
        format,
    }
}

fn uplink(c: &mut Criterion) {
    let mut group = c.benchmark_group("uplink_put_take");
    for (name, width, height, format) in [
        ("512x512_rgb8", 512, 512, PixelFormat::Rgb8),
        ("1280x720_rgb8", 1280, 720, PixelFormat::Rgb8),
        ("1280x720_rgba8", 1280, 720, PixelFormat::Rgba8),
    ] {
        let body = vec![7u8; format.frame_len(width, height)];
        let frames = StreamFrames::default();
        frames.uplink.set_consumer(Some(Arc::new(Notify::new())));
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut message = Vec::with_capacity(FRAME_HEADER_LEN + body.len());
                message.resize(FRAME_HEADER_LEN, 0);
                message.extend_from_slice(&body);
                frames.uplink.put(message, header(width, height, format));
                black_box(frames.uplink.take());
            });
        });
    }
    group.finish();

    // Producer faster than the consumer: every put replaces the pending frame.
    let mut group = c.benchmark_group("uplink_newest_wins");
    let body = vec![7u8; PixelFormat::Rgb8.frame_len(512, 512)];
    let frames = StreamFrames::default();
    group.throughput(Throughput::Elements(1));
    group.bench_function("512x512_rgb8_put_only", |b| {
        b.iter(|| {
            let mut message = Vec::with_capacity(FRAME_HEADER_LEN + body.len());
            message.resize(FRAME_HEADER_LEN, 0);
            message.extend_from_slice(&body);
            black_box(
                frames
                    .uplink
                    .put(message, header(512, 512, PixelFormat::Rgb8)),
            );
        });
    });
    group.finish();
}

fn output(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("output_publish_read");
    let pixels = Bytes::from(vec![3u8; PixelFormat::Rgba8.frame_len(512, 512)]);
    let frames = StreamFrames::default();
    group.throughput(Throughput::Bytes(pixels.len() as u64));
    group.bench_function("512x512_rgba8", |b| {
        b.iter(|| {
            let sequence = frames
                .output
                .publish(&header(512, 512, PixelFormat::Rgba8), pixels.clone());
            let frame = runtime.block_on(frames.output.newer_than(sequence - 1, Duration::ZERO));
            black_box(frame);
        });
    });
    group.finish();
}

fn conversion(c: &mut Criterion) {
    let (width, height) = (1280, 720);
    let rgb: Vec<u8> = (0..PixelFormat::Rgb8.frame_len(width, height))
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let message = header(width, height, PixelFormat::Rgb8).encode_with(&rgb);
    let i420 = rtc_relay::pixels::frame_message_as_i420(&message).unwrap();
    let i420 = &i420[FRAME_HEADER_LEN..];
    let mut group = c.benchmark_group("conversion_1280x720");
    group.throughput(Throughput::Elements(1));
    group.bench_function("copy_rgb8_reference", |b| {
        b.iter(|| black_box(message.clone()));
    });
    group.bench_function("rgb8_to_i420", |b| {
        b.iter(|| black_box(rtc_relay::pixels::frame_message_as_i420(&message)));
    });
    group.bench_function("i420_to_rgb8", |b| {
        b.iter(|| {
            black_box(rtc_relay::pixels::convert(
                i420,
                PixelFormat::I420,
                PixelFormat::Rgb8,
                width,
                height,
            ))
        });
    });
    group.finish();
}

criterion_group!(benches, uplink, output, conversion);
criterion_main!(benches);
