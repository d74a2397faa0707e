//! What publisher and player share: the state machine with its events, WHIP/WHEP
//! negotiation (including WHEP's counter-offer), reconnection with backoff, ICE restart
//! after a disconnect, stats sampling, and teardown with DELETE.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use gloo_timers::future::TimeoutFuture;
use rtc_protocol::{AgentRole, MediaState, StreamStats};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcSdpType;

use crate::error::{ClientError, ErrorCode, Result};
use crate::events::Emitter;
use crate::peer::Peer;
use crate::signaling::{self, Endpoint, Offered, Session, Trickle};
use crate::state::{Backoff, ReconnectOptions, can_transition, state_name};
use crate::{js, sdp, stats};

/// How long `disconnected` may last before an ICE restart is tried.
const DISCONNECT_GRACE_MS: u32 = 1500;

/// Called on every state change (the agent reports them to the relay).
pub(crate) type StateHook = Box<dyn Fn(MediaState, Option<&ClientError>)>;

/// A live connection: the peer and the server's session.
#[derive(Debug)]
struct Connection {
    peer: Peer,
    session: Session,
}

/// Lifecycle of one WHIP or WHEP connection.
pub(crate) struct Link {
    role: AgentRole,
    endpoint: RefCell<Endpoint>,
    state: Cell<MediaState>,
    /// Listeners of the JS object.
    pub(crate) events: Emitter,
    hook: RefCell<Option<StateHook>>,
    backoff: RefCell<Backoff>,
    connection: RefCell<Option<Connection>>,
    /// Bumped by every new connection attempt and by stop, so late callbacks of an old peer
    /// are ignored.
    generation: Cell<u32>,
    gather_ms: u32,
    sampler: RefCell<stats::Sampler>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("role", &self.role)
            .field("state", &self.state.get())
            .finish_non_exhaustive()
    }
}

/// The media side: publisher or player.
pub(crate) trait Media: 'static {
    /// The shared lifecycle.
    fn link(&self) -> &Link;
    /// Adds tracks or transceivers to a fresh peer.
    fn prepare(self: Rc<Self>, peer: &mut Peer) -> Result<()>;
    /// Called once the remote description is applied.
    fn negotiated(&self, _peer: &Peer) {}
}

impl Link {
    /// A link in state `idle`.
    pub(crate) fn new(
        role: AgentRole,
        endpoint: Endpoint,
        reconnect: ReconnectOptions,
        gather_ms: u32,
    ) -> Self {
        Self {
            role,
            endpoint: RefCell::new(endpoint),
            state: Cell::new(MediaState::Idle),
            events: Emitter::default(),
            hook: RefCell::new(None),
            backoff: RefCell::new(Backoff::new(reconnect)),
            connection: RefCell::new(None),
            generation: Cell::new(0),
            gather_ms,
            sampler: RefCell::new(stats::Sampler::default()),
        }
    }

    /// Current state.
    pub(crate) fn state(&self) -> MediaState {
        self.state.get()
    }

    /// Installs the agent's state hook.
    pub(crate) fn set_hook(&self, hook: StateHook) {
        *self.hook.borrow_mut() = Some(hook);
    }

    /// Points later (re)connections at another URL.
    pub(crate) fn set_endpoint(&self, endpoint: Endpoint) {
        *self.endpoint.borrow_mut() = endpoint;
    }

    /// The live peer connection, if any.
    pub(crate) fn pc(&self) -> Option<web_sys::RtcPeerConnection> {
        self.connection
            .borrow()
            .as_ref()
            .map(|c| c.peer.pc().clone())
    }

    fn set_state(&self, to: MediaState, error: Option<&ClientError>) {
        let from = self.state.get();
        if !can_transition(from, to) {
            return;
        }
        self.state.set(to);
        let event = js::object();
        js::set(&event, "state", &state_name(to).into());
        js::set(&event, "previous", &state_name(from).into());
        if let Some(hook) = self.hook.borrow().as_ref() {
            hook(to, error);
        }
        self.events.emit("stateChange", &event);
        if let Some(err) = error {
            self.events.emit("error", &JsValue::from(err.clone()));
        }
    }

    /// Samples `getStats` into the protocol's figures.
    pub(crate) async fn stats(&self) -> Option<StreamStats> {
        let pc = self.pc()?;
        let report = JsFuture::from(pc.get_stats()).await.ok()?;
        let sample = stats::read_report(&report, self.role);
        Some(self.sampler.borrow_mut().derive(sample))
    }

    fn is_current(&self, generation: u32) -> bool {
        self.generation.get() == generation && self.state.get() != MediaState::Ended
    }

    fn token(&self) -> Option<String> {
        self.endpoint.borrow().token.clone()
    }
}

/// Connects, retrying transient failures with backoff. Resolves once the answer is applied;
/// the state turns `live` when media flows.
pub(crate) async fn connect(media: Rc<dyn Media>) -> Result<()> {
    let link = media.link();
    if link.state() == MediaState::Ended {
        return Err(ClientError::new(
            ErrorCode::Closed,
            "stopped; create a new one to connect again",
        ));
    }
    link.generation.set(link.generation.get() + 1);
    let generation = link.generation.get();
    if link.state() != MediaState::Reconnecting {
        link.set_state(MediaState::Connecting, None);
    }
    loop {
        let outcome = negotiate(&media, generation).await;
        if !link.is_current(generation) {
            return Err(ClientError::new(
                ErrorCode::Closed,
                "stopped while connecting",
            ));
        }
        let err = match outcome {
            Ok(()) => return Ok(()),
            Err(err) => err,
        };
        let delay = if err.code.is_transient() {
            link.backoff.borrow_mut().next_delay(err.retry_after_ms)
        } else {
            None
        };
        let Some(delay_ms) = delay else {
            link.set_state(MediaState::Failed, Some(&err));
            return Err(err);
        };
        link.set_state(MediaState::Reconnecting, None);
        let event = js::object();
        js::set(&event, "attempt", &link.backoff.borrow().attempt().into());
        js::set(&event, "delayMs", &delay_ms.into());
        js::set(&event, "reason", &JsValue::from(err));
        link.events.emit("reconnect", &event);
        TimeoutFuture::new(delay_ms).await;
        if !link.is_current(generation) {
            return Err(ClientError::new(
                ErrorCode::Closed,
                "stopped while reconnecting",
            ));
        }
    }
}

async fn negotiate(media: &Rc<dyn Media>, generation: u32) -> Result<()> {
    let link = media.link();
    let mut peer = Peer::new()?;
    media.clone().prepare(&mut peer)?;
    let weak = Rc::downgrade(media);
    peer.on_connection_state(move |state| {
        if let Some(media) = weak.upgrade() {
            on_connection_state(&media, generation, &state);
        }
    });
    let offer = peer.complete_offer(false, link.gather_ms).await?;
    let endpoint = link.endpoint.borrow().clone();
    let session = match signaling::post_offer(&endpoint, &offer).await? {
        Offered::Answer(session, answer) => {
            if let Err(err) = peer.set_remote(RtcSdpType::Answer, &answer).await {
                spawn_delete(session, endpoint.token.clone());
                return Err(err);
            }
            session
        }
        Offered::CounterOffer(session, server_offer) => {
            peer.rollback().await?;
            let answer = peer.complete_answer(&server_offer, link.gather_ms).await?;
            signaling::send_answer(&session, endpoint.token.as_deref(), &answer).await?;
            session
        }
    };
    if !link.is_current(generation) {
        spawn_delete(session, endpoint.token);
        return Err(ClientError::new(
            ErrorCode::Closed,
            "stopped while connecting",
        ));
    }
    media.negotiated(&peer);
    let old = link.connection.replace(Some(Connection { peer, session }));
    if let Some(old) = old {
        spawn_delete(old.session, endpoint.token);
    }
    Ok(())
}

fn spawn_delete(session: Session, token: Option<String>) {
    js::spawn(async move {
        if let Err(err) = signaling::delete(&session, token.as_deref()).await {
            js::warn(&format!("rtc-client: {err}"));
        }
    });
}

fn on_connection_state(media: &Rc<dyn Media>, generation: u32, state: &str) {
    let link = media.link();
    if !link.is_current(generation) {
        return;
    }
    match state {
        "connected" => {
            link.backoff.borrow_mut().reset();
            link.set_state(MediaState::Live, None);
        }
        "disconnected" => {
            link.set_state(MediaState::Reconnecting, None);
            js::spawn(restart_ice(media.clone(), generation));
        }
        "failed" => {
            // A first connection that fails never connected: this browser cannot reach any
            // address the server announced. The relay, which knows where its media listens,
            // adds which and what to do.
            let unreachable = (link.state() == MediaState::Connecting)
                .then(|| ClientError::new(ErrorCode::MediaUnreachable, "ICE did not connect"));
            link.set_state(MediaState::Reconnecting, unreachable.as_ref());
            js::spawn(reconnect(media.clone()));
        }
        _ => {}
    }
}

/// After a grace period still `disconnected`: new ICE credentials through a PATCH
/// (RFC 9725 §4.3.2). Servers without restart support get a fresh session instead.
async fn restart_ice(media: Rc<dyn Media>, generation: u32) {
    TimeoutFuture::new(DISCONNECT_GRACE_MS).await;
    let link = media.link();
    let Some(pc) = link.pc() else { return };
    let still_down = js::string(&pc, "connectionState").as_deref() == Some("disconnected");
    if !link.is_current(generation) || !still_down {
        return;
    }
    match try_restart_ice(link).await {
        Ok(true) => {}
        Ok(false) | Err(_) if link.is_current(generation) => reconnect(media).await,
        _ => {}
    }
}

async fn try_restart_ice(link: &Link) -> Result<bool> {
    let (pc, session, remote) = {
        let conn = link.connection.borrow();
        let Some(c) = conn.as_ref() else {
            return Ok(false);
        };
        (c.peer.pc().clone(), c.session.clone(), c.peer.remote_sdp())
    };
    let _ = js::call(&pc, "restartIce", &[]);
    let offer = crate::peer::offer_on(&pc, true, link.gather_ms).await?;
    let Some(fragment) = sdp::restart_fragment(&offer) else {
        return Ok(false);
    };
    match signaling::patch_fragment(&session, link.token().as_deref(), &fragment, true).await? {
        Trickle::Restarted(server_fragment, etag) => {
            let answer = remote
                .and_then(|r| sdp::apply_restart_fragment(&r, &server_fragment))
                .ok_or_else(|| ClientError::new(ErrorCode::BadSdp, "ICE restart answer"))?;
            crate::peer::remote_on(&pc, RtcSdpType::Answer, &answer).await?;
            if let Some(c) = link.connection.borrow_mut().as_mut() {
                c.session.etag = etag;
            }
            Ok(true)
        }
        Trickle::Accepted | Trickle::Unsupported => Ok(false),
    }
}

/// Drops the connection and negotiates a new session.
pub(crate) async fn reconnect(media: Rc<dyn Media>) {
    let link = media.link();
    if link.state() == MediaState::Ended {
        return;
    }
    if let Some(old) = link.connection.take() {
        spawn_delete(old.session, link.token());
    }
    link.set_state(MediaState::Reconnecting, None);
    let _ = connect(media).await;
}

/// Ends the connection for good: closes the peer and DELETEs the session.
pub(crate) async fn stop(link: &Link) {
    link.generation.set(link.generation.get() + 1);
    link.set_state(MediaState::Ended, None);
    if let Some(old) = link.connection.take() {
        drop(old.peer);
        if let Err(err) = signaling::delete(&old.session, link.token().as_deref()).await {
            js::warn(&format!("rtc-client: {err}"));
        }
    }
}
