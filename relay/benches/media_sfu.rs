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
//! `cargo bench -p rtc-relay --bench media_sfu` (env: `MEDIA_BENCH_STREAMS`, default 8;
//! `MEDIA_BENCH_SECONDS`, default 10; `MEDIA_BENCH_KBPS`, default 1500).

#![allow(clippy::print_stdout)]

#[path = "../tests/integration/media_support/mod.rs"]
mod media_support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use media_support::{PeerEvent, TestPeer, connect, frame_number, h264_frame};
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
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
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

async fn open_streams(server: &ServerHandle, count: usize) -> Vec<Stream> {
    let mut streams = Vec::new();
    for i in 0..count {
        let key = format!("stk_bench{i}");
        // The SFU path alone: the effect stage has its own benchmark.
        server
            .media
            .open_stream(&key, &serde_json::json!({"skip_diffusion": true}));
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
    let frame_bytes = (kbps * 1000 / 8 / u64::from(FPS)) as usize;

    let server = ServerHandle::start();
    let clients = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    clients.block_on(async {
        let mut streams = open_streams(&server, count).await;

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
                measure_start = Some((Instant::now(), server.cpu().await));
            }
            for stream in &streams {
                let keyframe = number.is_multiple_of(GOP);
                stream
                    .publisher
                    .send_frame(h264_frame(number, keyframe, frame_bytes));
            }
            number += 1;
        }
        let (started, cpu_before) = measure_start.unwrap();
        let cpu_after = server.cpu().await;
        let wall = started.elapsed();
        let measured: HashSet<u32> = (warmup_frames..number).collect();

        // Let the last frames drain, then count what each viewer got.
        let mut lost_total = 0usize;
        for (i, stream) in streams.iter_mut().enumerate() {
            let mut received = HashSet::new();
            while let Ok(Some(event)) =
                tokio::time::timeout(Duration::from_millis(500), stream.viewer.events.recv()).await
            {
                if let PeerEvent::Frame(frame, _) = event
                    && let Some(n) = frame_number(&frame)
                    && measured.contains(&n)
                {
                    received.insert(n);
                }
            }
            let mut missing: Vec<u32> = measured.difference(&received).copied().collect();
            missing.sort_unstable();
            lost_total += missing.len();
            println!(
                "stream {i}: sent {} frames, received {}, missing {missing:?}",
                measured.len(),
                received.len()
            );
        }
        let sent_total = measured.len() * count;
        let cpu = (cpu_after - cpu_before).as_secs_f64() / wall.as_secs_f64();
        let delays = server.media.take_forwarding_delays();
        println!(
            "\n{count} streams, {FPS} fps, {kbps} kbit/s ({frame_bytes} B/frame), {seconds} s"
        );
        println!(
            "frame loss: {lost_total}/{sent_total} = {:.3} %  (budget < 1 %)",
            100.0 * lost_total as f64 / sent_total as f64
        );
        println!(
            "server CPU: {:.1} % of one core  (budget <= 25 %)",
            100.0 * cpu
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
