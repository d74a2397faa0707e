//! Load benchmark for the local media server (DESIGN.md P6), and the server's own
//! per-datagram forwarding delay.
//!
//! N str0m publishers each send a 512×512-sized H.264 stream at 24 fps (synthetic access
//! units of realistic size) to the server over real UDP on loopback, and one str0m viewer
//! per stream receives it. The server runs alone on a current-thread runtime, so the CPU
//! time of that thread is the relay's media CPU. Reported:
//!
//! - frames sent / received per stream and the loss rate (budget: < 1 %),
//! - server CPU as a share of one core (budget: ≤ 25 % with 8 streams),
//! - forwarding delay inside the server per access unit, p50 / p90 / p99 / max: from the
//!   receive of its last packet (the server's own cost, and the shortest wait of any packet)
//!   and of its first packet (the longest wait) to the send of the forwarded packets.
//!
//! With `MEDIA_BENCH_EFFECT=1` the streams go through the effect stage instead: publishers
//! send real 512×512 H.264 (a moving, textured picture), the server decodes, applies the
//! effect and encodes per stream, and the CPU reported includes the streams' effect threads.
//! Output frames carry no number, so loss is counted as frames received against frames sent.
//!
//! `cargo bench -p rtc-relay --bench media_sfu` (env: `MEDIA_BENCH_STREAMS`, default 8;
//! `MEDIA_BENCH_SECONDS`, default 10; `MEDIA_BENCH_KBPS`, default 1500, synthetic frames only;
//! `MEDIA_BENCH_EFFECT`, default 0).

#![allow(clippy::print_stdout)]

#[path = "../tests/integration/media_support/mod.rs"]
mod media_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use media_support::{PeerEvent, Source, TestPeer, connect, frame_number, h264_frame};
use rtc_relay::local::media::{MediaServer, MediaSettings, whep_path, whip_path};
use str0m::media::Direction;

const FPS: u32 = 24;
/// Keyframe interval, in frames (two seconds).
const GOP: u32 = 48;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time (user + system) of the calling thread.
fn thread_cpu() -> Duration {
    stat_cpu(&std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default())
}

/// CPU time of this process's effect-stage threads (named `effect-<stream>`).
fn effect_threads_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter(|stat| stat.contains("(effect-"))
        .map(|stat| stat_cpu(&stat))
        .sum()
}

/// User + system time from a `/proc/.../stat` line.
fn stat_cpu(stat: &str) -> Duration {
    // Fields after the command name (which may contain spaces) start after ") ".
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after the name.
    let total = ticks(11) + ticks(12);
    // Linux reports these in USER_HZ, which is 100 on every supported architecture.
    Duration::from_millis(total * 10)
}

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank]
}

struct ServerHandle {
    base: String,
    media: MediaServer,
    cpu: tokio::sync::mpsc::UnboundedSender<tokio::sync::oneshot::Sender<Duration>>,
}

impl ServerHandle {
    /// Starts the server on its own thread and current-thread runtime.
    fn start() -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let media =
                    MediaServer::start(&MediaSettings::on(std::net::Ipv4Addr::LOCALHOST.into()))
                        .await
                        .unwrap();
                let app = axum::Router::new().nest("/local", media.router());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                tokio::spawn(async move { axum::serve(listener, app).await });
                let (cpu_tx, mut cpu_rx) = tokio::sync::mpsc::unbounded_channel::<
                    tokio::sync::oneshot::Sender<Duration>,
                >();
                ready_tx
                    .send((format!("http://{addr}"), media, cpu_tx))
                    .unwrap();
                while let Some(reply) = cpu_rx.recv().await {
                    let _ = reply.send(thread_cpu());
                }
            });
        });
        let (base, media, cpu) = ready_rx.recv().unwrap();
        Self { base, media, cpu }
    }

    async fn cpu(&self) -> Duration {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.cpu.send(tx).unwrap();
        rx.await.unwrap()
    }
}

struct Stream {
    publisher: TestPeer,
    viewer: TestPeer,
}

async fn open_streams(server: &ServerHandle, count: usize, effect: bool) -> Vec<Stream> {
    let params = if effect {
        serde_json::json!({"model_id": "stabilityai/sd-turbo", "prompt": "neon city"})
    } else {
        serde_json::json!({"skip_diffusion": true})
    };
    let mut streams = Vec::new();
    for i in 0..count {
        let key = format!("stk_bench{i}");
        server.media.open_stream(&key, &params);
        let whip = format!("{}/local{}", server.base, whip_path(&key));
        let mut publisher = connect(&whip, Direction::SendOnly).await;
        publisher
            .wait_for("publisher connected", |e| *e == PeerEvent::Connected)
            .await;
        let whep = format!("{}/local{}", server.base, whep_path(&key));
        let mut viewer = connect(&whep, Direction::RecvOnly).await;
        viewer
            .wait_for("viewer connected", |e| *e == PeerEvent::Connected)
            .await;
        streams.push(Stream { publisher, viewer });
    }
    streams
}

fn main() {
    let count = env_or("MEDIA_BENCH_STREAMS", 8) as usize;
    let seconds = env_or("MEDIA_BENCH_SECONDS", 10);
    let kbps = env_or("MEDIA_BENCH_KBPS", 1500);
    let effect = env_or("MEDIA_BENCH_EFFECT", 0) == 1;
    let frame_bytes = (kbps * 1000 / 8 / u64::from(FPS)) as usize;
    let encoded = effect.then(|| {
        let mut source = Source::new(512, 512);
        (0..GOP).map(|n| source.next(n == 0)).collect::<Vec<_>>()
    });

    let server = ServerHandle::start();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    clients.block_on(async {
        let mut streams = open_streams(&server, count, effect).await;

        // Warm up for a second (first keyframes, str0m buffers), then measure.
        let mut number = 0u32;
        let mut tick = tokio::time::interval(Duration::from_secs(1) / FPS);
        let warmup_frames = FPS;
        let measured_frames = FPS * seconds as u32;
        let mut measure_start = None;
        for _ in 0..warmup_frames + measured_frames {
            tick.tick().await;
            if number == warmup_frames {
                server.media.take_forwarding_delays();
                // What arrived during the warm-up is not counted.
                for stream in &mut streams {
                    while stream.viewer.events.try_recv().is_ok() {}
                }
                measure_start = Some((Instant::now(), server.cpu().await, effect_threads_cpu()));
            }
            for stream in &streams {
                let frame = match &encoded {
                    Some(frames) => frames[(number % GOP) as usize].clone(),
                    None => h264_frame(number, number.is_multiple_of(GOP), frame_bytes),
                };
                stream.publisher.send_frame(frame);
            }
            number += 1;
        }
        let (started, cpu_before, effect_before) = measure_start.unwrap();
        let cpu_after = server.cpu().await;
        let effect_after = effect_threads_cpu();
        let wall = started.elapsed();
        let measured: HashSet<u32> = (warmup_frames..number).collect();

        // Let the last frames drain, then count what each viewer got.
        let mut lost_total = 0usize;
        for (i, stream) in streams.iter_mut().enumerate() {
            let mut received = HashSet::new();
            let mut frames = 0usize;
            while let Ok(Some(event)) =
                tokio::time::timeout(Duration::from_millis(500), stream.viewer.events.recv()).await
            {
                if let PeerEvent::Frame(frame, _) = event {
                    frames += 1;
                    if let Some(n) = frame_number(&frame).filter(|n| measured.contains(n)) {
                        received.insert(n);
                    }
                }
            }
            if effect {
                lost_total += measured.len().saturating_sub(frames);
                println!(
                    "stream {i}: sent {} frames, received {frames} processed",
                    measured.len()
                );
            } else {
                let mut missing: Vec<u32> = measured.difference(&received).copied().collect();
                missing.sort_unstable();
                lost_total += missing.len();
                println!(
                    "stream {i}: sent {} frames, received {}, missing {missing:?}",
                    measured.len(),
                    received.len()
                );
            }
        }
        let sent_total = measured.len() * count;
        let share = |d: Duration| d.as_secs_f64() / wall.as_secs_f64();
        let cpu = share(cpu_after - cpu_before);
        let effect_cpu = share(effect_after - effect_before);
        let delays = server.media.take_forwarding_delays();
        let path = if effect { "effect stage" } else { "SFU" };
        println!(
            "\n{count} streams through the {path}, {FPS} fps, {} B/frame, {seconds} s",
            encoded
                .as_ref()
                .map_or(frame_bytes, |f| f.iter().map(Vec::len).sum::<usize>()
                    / f.len())
        );
        println!(
            "frame loss: {lost_total}/{sent_total} = {:.3} %  (budget < 1 %)",
            100.0 * lost_total as f64 / sent_total as f64
        );
        println!(
            "server CPU: {:.1} % of one core  (budget <= 25 %)",
            100.0 * (cpu + effect_cpu)
        );
        println!(
            "of which effect threads: {:.1} % of one core, {:.1} % per stream",
            100.0 * effect_cpu,
            100.0 * effect_cpu / count as f64
        );
        for (label, mut samples) in [
            ("last packet in -> out", delays.last_packet_us),
            ("first packet in -> out", delays.first_packet_us),
        ] {
            samples.sort_unstable();
            println!(
                "forwarding delay, {label} (µs, {} frames): p50 {}  p90 {}  p99 {}  max {}",
                samples.len(),
                percentile(&samples, 0.50),
                percentile(&samples, 0.90),
                percentile(&samples, 0.99),
                samples.last().copied().unwrap_or(0)
            );
        }
    });
}
