//! WHIP ingest and WHEP egress for the local backend, with str0m over one shared UDP socket.
//!
//! The REST side calls [`MediaServer::open_stream`] when it creates a stream and
//! [`MediaServer::close_stream`] when it deletes one, reads [`MediaServer::status`] to move
//! the stream from LOADING to ONLINE, and mounts [`MediaServer::router`] under `/local`.
//!
//! The HTTP handlers accept offers and hand each session's `Rtc` to the driver task, which
//! owns the socket and sends the publisher's media to every viewer: video through the
//! stream's effect stage ([`crate::local::effect`], codec work on a thread per stream), or
//! unchanged when the params say `skip_diffusion`.

mod driver;
mod error;
mod http;
mod net;
mod signaling;
mod state;
mod transcode;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use serde_json::Value;
use str0m::change::SdpOffer;
use str0m::crypto::CryptoProvider;
use str0m::{Candidate, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{self, UnboundedSender};

pub use crate::config::MediaSettings;
pub use error::MediaError;
pub use http::MAX_OFFER_BYTES;
pub use state::ForwardingDelays;

use driver::{Command, Driver, Peer};
use signaling::{Role, new_etag, new_session_id};
use state::Registry;

/// Receive buffer requested for the shared UDP socket.
const SOCKET_BUFFER_BYTES: usize = 4 << 20;

/// Path (under `/local`) of a stream's WHIP endpoint.
pub fn whip_path(stream_key: &str) -> String {
    format!("/live/video-to-video/{stream_key}/whip")
}

/// Path (under `/local`) of a stream's WHEP endpoint.
pub fn whep_path(stream_key: &str) -> String {
    format!("/live/video-to-video/{stream_key}-out/whep")
}

/// What the REST side needs to know about a stream's media.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStatus {
    /// A WHIP session exists for the stream.
    pub publisher_connected: bool,
    /// Video packets arrived within the last second.
    pub media_flowing: bool,
    /// Number of WHEP sessions.
    pub viewers: usize,
    /// Video packets received from the publisher so far.
    pub packets_in: u64,
    /// Video packets forwarded to viewers so far (counted once per viewer).
    pub packets_out: u64,
}

/// The local WebRTC media server.
#[derive(Debug, Clone)]
pub struct MediaServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Arc<Registry>,
    commands: UnboundedSender<Command>,
    candidates: Vec<SocketAddr>,
    crypto: Arc<CryptoProvider>,
}

/// A session the server accepted.
struct Created {
    session: String,
    etag: String,
    answer: String,
}

impl MediaServer {
    /// Binds the shared UDP socket per `settings` and starts the driver task on the current
    /// runtime.
    ///
    /// By default the relay passes the address its HTTP listener uses, so media stays on
    /// loopback unless configured otherwise. With the unspecified address the socket listens
    /// on every IPv4 interface (browsers on other machines or network namespaces can reach
    /// it) and ICE and DTLS-SRTP credentials from the signalling keep strangers out. A reload
    /// of a stream's pipeline shows the reloading frame for `settings.reload_time`.
    pub async fn start(settings: &MediaSettings) -> std::io::Result<Self> {
        let socket = UdpSocket::bind((settings.bind, settings.port)).await?;
        // Every stream shares this socket: a larger buffer absorbs keyframe bursts from
        // several publishers while the driver is busy. The kernel caps it at rmem_max.
        let _ = socket2::SockRef::from(&socket).set_recv_buffer_size(SOCKET_BUFFER_BYTES);
        let port = socket.local_addr()?.port();
        let candidates = net::candidates(settings, port);
        let registry = Arc::new(Registry::new(settings.reload_time));
        let (commands, receiver) = mpsc::unbounded_channel();
        tokio::spawn(Driver::new(socket, candidates.clone(), Arc::clone(&registry)).run(receiver));
        let announced: Vec<String> = candidates.iter().map(ToString::to_string).collect();
        tracing::info!(
            "local media listening on UDP {}:{port}, announced as {}",
            settings.bind,
            announced.join(", ")
        );
        Ok(Self {
            inner: Arc::new(Inner {
                registry,
                commands,
                candidates,
                crypto: Arc::new(str0m::crypto::from_feature_flags()),
            }),
        })
    }

    /// WHIP/WHEP routes, to be nested under `/local`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        http::router(self.clone())
    }

    /// Allows WHIP and WHEP for `stream_key`, whose output follows `params` (validated
    /// StreamDiffusion params; `{"skip_diffusion": true}` forwards the input unchanged).
    pub fn open_stream(&self, stream_key: &str, params: &Value) {
        self.inner.registry.open(stream_key, params);
    }

    /// Applies a stream's updated params: hot ones from the next frame, others after a
    /// reload. Returns whether the stream is open.
    pub fn update_params(&self, stream_key: &str, params: &Value) -> bool {
        self.inner.registry.update(stream_key, params)
    }

    /// Ends every session of `stream_key` and forgets it.
    pub fn close_stream(&self, stream_key: &str) {
        if self.inner.registry.close(stream_key) {
            let _ = self
                .inner
                .commands
                .send(Command::CloseStream(stream_key.to_owned()));
        }
    }

    /// Current media state of `stream_key`, `None` if it is not open.
    pub fn status(&self, stream_key: &str) -> Option<MediaStatus> {
        self.inner.registry.status(stream_key)
    }

    /// The host candidates (one UDP port, several addresses) put in every answer.
    pub fn candidates(&self) -> &[SocketAddr] {
        &self.inner.candidates
    }

    /// Takes the forwarding delays recorded since the previous call (benchmarks use it).
    pub fn take_forwarding_delays(&self) -> ForwardingDelays {
        self.inner.registry.take_forwarding_delays()
    }

    fn accept_offer(&self, key: &str, offer: SdpOffer, role: Role) -> Result<Created, MediaError> {
        let mut rtc = Rtc::builder()
            .set_crypto_provider(Arc::clone(&self.inner.crypto))
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .build(Instant::now());
        for addr in &self.inner.candidates {
            if let Ok(candidate) = Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(candidate);
            }
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadSdp(e.to_string()))?;
        let session = new_session_id();
        let registry = &self.inner.registry;
        let control = registry.control(key).ok_or(MediaError::UnknownStream)?;
        let counters = match role {
            Role::Publisher => registry.add_publisher(key, &session)?.1,
            Role::Viewer => registry.add_viewer(key, &session)?,
        };
        let peer = Peer::new(
            session.clone(),
            key.to_owned(),
            role,
            rtc,
            counters,
            control,
        );
        if self
            .inner
            .commands
            .send(Command::Add(Box::new(peer)))
            .is_err()
        {
            registry.remove_session(key, &session, role);
            return Err(MediaError::Unavailable);
        }
        Ok(Created {
            session,
            etag: new_etag(),
            answer: answer.to_sdp_string(),
        })
    }

    fn end_session(&self, key: &str, session: &str, role: Role) -> Result<(), MediaError> {
        if !self.inner.registry.remove_session(key, session, role) {
            return Err(MediaError::UnknownSession);
        }
        let _ = self.inner.commands.send(Command::Close(session.to_owned()));
        Ok(())
    }
}
