//! An owned `RTCPeerConnection`: bounded ICE gathering for a complete offer, description
//! helpers, and connection-state listeners that are removed when the peer is dropped.

use gloo_events::EventListener;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{RtcIceGatheringState, RtcPeerConnection, RtcSdpType, RtcSessionDescriptionInit};

use crate::error::{ClientError, ErrorCode, Result};
use crate::js;

/// A peer connection and the listeners registered on it.
#[derive(Debug)]
pub(crate) struct Peer {
    pc: RtcPeerConnection,
    listeners: Vec<EventListener>,
}

async fn wait(promise: js_sys::Promise, context: &str, code: ErrorCode) -> Result<JsValue> {
    JsFuture::from(promise)
        .await
        .map_err(|e| ClientError::js(code, context, &e))
}

impl Peer {
    /// A new connection with max-bundle and rtcp-mux (what WHIP/WHEP require).
    pub(crate) fn new() -> Result<Self> {
        let config = web_sys::RtcConfiguration::new();
        js::set(&config, "bundlePolicy", &"max-bundle".into());
        js::set(&config, "rtcpMuxPolicy", &"require".into());
        let pc = RtcPeerConnection::new_with_configuration(&config)
            .map_err(|e| ClientError::js(ErrorCode::Unsupported, "RTCPeerConnection", &e))?;
        Ok(Self {
            pc,
            listeners: Vec::new(),
        })
    }

    /// The connection.
    pub(crate) fn pc(&self) -> &RtcPeerConnection {
        &self.pc
    }

    /// Calls `f` with `connectionState` on every change, while the peer lives.
    pub(crate) fn on_connection_state(&mut self, mut f: impl FnMut(String) + 'static) {
        let pc = self.pc.clone();
        self.listeners.push(EventListener::new(
            &self.pc,
            "connectionstatechange",
            move |_| {
                f(js::string(&pc, "connectionState").unwrap_or_default());
            },
        ));
    }

    /// Calls `f` with each remote track.
    pub(crate) fn on_track(&mut self, mut f: impl FnMut(web_sys::MediaStreamTrack) + 'static) {
        self.listeners
            .push(EventListener::new(&self.pc, "track", move |event| {
                if let Ok(track) = js::get(event, "track").dyn_into() {
                    f(track);
                }
            }));
    }

    /// Creates an offer (with new ICE credentials when `ice_restart`), applies it and returns
    /// the local description once gathering completes or `gather_ms` passes.
    pub(crate) async fn complete_offer(&self, ice_restart: bool, gather_ms: u32) -> Result<String> {
        offer_on(&self.pc, ice_restart, gather_ms).await
    }

    /// Applies a remote offer, answers it and returns the complete local answer.
    pub(crate) async fn complete_answer(
        &self,
        remote_offer: &str,
        gather_ms: u32,
    ) -> Result<String> {
        remote_on(&self.pc, RtcSdpType::Offer, remote_offer).await?;
        let answer = wait(self.pc.create_answer(), "createAnswer", ErrorCode::BadSdp).await?;
        wait(
            self.pc.set_local_description(answer.unchecked_ref()),
            "setLocalDescription",
            ErrorCode::BadSdp,
        )
        .await?;
        gathered(&self.pc, gather_ms).await;
        local_sdp(&self.pc)
    }

    /// Drops the local offer (before applying a WHEP counter-offer).
    pub(crate) async fn rollback(&self) -> Result<()> {
        let init = RtcSessionDescriptionInit::new(RtcSdpType::Rollback);
        wait(
            self.pc.set_local_description(&init),
            "rollback",
            ErrorCode::BadSdp,
        )
        .await?;
        Ok(())
    }

    /// Applies a remote description after checking it is usable.
    pub(crate) async fn set_remote(&self, kind: RtcSdpType, sdp: &str) -> Result<()> {
        remote_on(&self.pc, kind, sdp).await
    }

    /// The current remote description's SDP.
    pub(crate) fn remote_sdp(&self) -> Option<String> {
        self.pc.remote_description().map(|d| d.sdp())
    }
}

/// [`Peer::complete_offer`] on a connection handle (used while the peer stays borrowed).
pub(crate) async fn offer_on(
    pc: &RtcPeerConnection,
    ice_restart: bool,
    gather_ms: u32,
) -> Result<String> {
    let options = web_sys::RtcOfferOptions::new();
    js::set(&options, "iceRestart", &ice_restart.into());
    let offer = wait(
        pc.create_offer_with_rtc_offer_options(&options),
        "createOffer",
        ErrorCode::BadSdp,
    )
    .await?;
    wait(
        pc.set_local_description(offer.unchecked_ref()),
        "setLocalDescription",
        ErrorCode::BadSdp,
    )
    .await?;
    gathered(pc, gather_ms).await;
    local_sdp(pc)
}

/// [`Peer::set_remote`] on a connection handle.
pub(crate) async fn remote_on(pc: &RtcPeerConnection, kind: RtcSdpType, sdp: &str) -> Result<()> {
    crate::sdp::check(sdp)
        .map_err(|why| ClientError::new(ErrorCode::BadSdp, format!("remote SDP: {why}")))?;
    let init = RtcSessionDescriptionInit::new(kind);
    init.set_sdp(sdp);
    wait(
        pc.set_remote_description(&init),
        "setRemoteDescription",
        ErrorCode::BadSdp,
    )
    .await?;
    Ok(())
}

fn local_sdp(pc: &RtcPeerConnection) -> Result<String> {
    pc.local_description()
        .map(|d| d.sdp())
        .ok_or_else(|| ClientError::new(ErrorCode::BadSdp, "no local description"))
}

/// Resolves when ICE gathering is complete or after `limit_ms`, whichever comes first: a slow
/// STUN server must not hold the offer back forever.
async fn gathered(pc: &RtcPeerConnection, limit_ms: u32) {
    if pc.ice_gathering_state() == RtcIceGatheringState::Complete {
        return;
    }
    let mut resolve = None;
    let promise = js_sys::Promise::new(&mut |res, _| resolve = Some(res));
    let Some(resolve) = resolve else { return };
    let on_done = resolve.clone();
    let watched = pc.clone();
    let _listener = EventListener::new(pc, "icegatheringstatechange", move |_| {
        if watched.ice_gathering_state() == RtcIceGatheringState::Complete {
            let _ = on_done.call0(&JsValue::NULL);
        }
    });
    let _timeout = gloo_timers::callback::Timeout::new(limit_ms, move || {
        let _ = resolve.call0(&JsValue::NULL);
    });
    let _ = JsFuture::from(promise).await;
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.listeners.clear();
        self.pc.close();
    }
}
