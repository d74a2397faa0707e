//! Sessions through the relay's own signalling routes on the local backend, with str0m peers
//! over real UDP: one session per client, the gateway's viewer limit, a publisher re-offer
//! that keeps its viewers, and WHIP only from the lease holder.

use crate::common::{Relay, agent, agent_with, expect_error, next_json, next_of_type};
use crate::media_support::{self, PeerEvent, TestPeer, connect_with, pump_until_received};

use futures_util::SinkExt;
use rtc_relay::leases::MAX_VIEWERS;
use serde_json::json;
use str0m::media::Direction;
use tokio_tungstenite::tungstenite::Message;

/// A relay on the local backend with one stream and a publishing agent; returns the stream
/// id and the lease-carrying WHIP path the agent was granted.
async fn stream_with_holder(relay: &Relay) -> (String, String, crate::common::Ws) {
    let (mut holder, _) = agent(relay, true).await;
    // Frame-number checks need the input back unchanged: no effect stage.
    let stream = relay
        .create_stream(
            json!({"name": "test", "pipeline_config": {"pipeline": "streamdiffusion",
            "params": {"model_id": "stabilityai/sdxl-turbo", "skip_diffusion": true}}}),
        )
        .await;
    let id = stream["id"].as_str().unwrap().to_owned();
    let grant = next_of_type(&mut holder, "publish").await;
    let whip = grant["whip_url"].as_str().unwrap().to_owned();
    (id, whip, holder)
}

async fn connected(relay: &Relay, path: &str, direction: Direction) -> TestPeer {
    let mut peer = connect_with(relay.post(path), direction).await;
    peer.wait_for("peer connected", |e| *e == PeerEvent::Connected)
        .await;
    peer
}

/// The session path of a peer: its relative `Location` resolved against the offer route.
fn session_path(offer_route: &str, peer: &TestPeer) -> String {
    let route = offer_route.split('?').next().unwrap();
    let (base, _) = route.rsplit_once('/').unwrap();
    format!("{base}/{}", peer.location)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_viewers_play_and_the_sixth_gets_a_clear_429() {
    let relay = Relay::start().await;
    let (id, whip, _holder) = stream_with_holder(&relay).await;
    let publisher = connected(&relay, &whip, Direction::SendOnly).await;
    let whep = format!("/v1/streams/{id}/whep");

    let mut viewers = Vec::new();
    for _ in 0..MAX_VIEWERS {
        viewers.push(connect_with(relay.post(&whep), Direction::RecvOnly).await);
    }
    let locations: std::collections::HashSet<_> =
        viewers.iter().map(|v| v.location.clone()).collect();
    assert_eq!(locations.len(), MAX_VIEWERS, "one session per client");

    let offer = media_support::Offer::new(Direction::RecvOnly).await;
    let refused = relay
        .post(&whep)
        .header("content-type", "application/sdp")
        .body(offer.sdp.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["retry-after"], "2");
    let body = expect_error(refused, 429, "viewer_limit").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(&MAX_VIEWERS.to_string()),
        "{body}"
    );

    // Every viewer plays the publisher's frames.
    let mut next = 0;
    for viewer in &mut viewers {
        viewer
            .wait_for("viewer connected", |e| *e == PeerEvent::Connected)
            .await;
        pump_until_received(&publisher, viewer, &mut next, 0).await;
    }

    // One viewer leaving frees its place, and only its own session ends.
    let first = viewers.remove(0);
    let path = session_path(&whep, &first);
    assert_eq!(relay.delete(&path).send().await.unwrap().status(), 200);
    expect_error(relay.delete(&path).send().await.unwrap(), 404, "no_session").await;
    let mut newcomer = connected(&relay, &whep, Direction::RecvOnly).await;
    pump_until_received(&publisher, &mut newcomer, &mut next, 0).await;
    let from = next;
    for viewer in &mut viewers {
        pump_until_received(&publisher, viewer, &mut next, from).await;
    }
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_reoffer_keeps_the_viewers_and_a_late_delete_of_the_old_session_is_harmless() {
    let relay = Relay::start().await;
    let (id, whip, _holder) = stream_with_holder(&relay).await;
    let old = connected(&relay, &whip, Direction::SendOnly).await;
    let whep = format!("/v1/streams/{id}/whep");
    let mut viewer = connected(&relay, &whep, Direction::RecvOnly).await;
    let mut next = 0;
    pump_until_received(&old, &mut viewer, &mut next, 0).await;

    // The holder renegotiates (an ICE failure, a new encoder) with a new session.
    let new = connected(&relay, &whip, Direction::SendOnly).await;
    assert_ne!(new.location, old.location);
    let mut from = 10_000;
    pump_until_received(&new, &mut viewer, &mut from, 10_000).await;

    // The old session was replaced; its late DELETE must not end the new one.
    expect_error(
        relay
            .delete(&session_path(&whip, &old))
            .send()
            .await
            .unwrap(),
        404,
        "no_session",
    )
    .await;
    let again = from;
    pump_until_received(&new, &mut viewer, &mut from, again).await;
    relay.stop().await;
}

#[tokio::test]
async fn a_tab_whose_lease_moved_is_stopped_and_cannot_publish() {
    let relay = Relay::start().await;
    let (id, first_whip, mut first) = stream_with_holder(&relay).await;
    let (mut second, second_id) = agent(&relay, true).await;

    // The first tab's socket drops; the second takes the stream over with a new lease.
    first.send(Message::Close(None)).await.unwrap();
    drop(first);
    let grant = next_of_type(&mut second, "publish").await;
    let second_whip = grant["whip_url"].as_str().unwrap().to_owned();
    assert_ne!(second_whip, first_whip);

    // The first tab comes back asking to resume: it is told to stop, and its old lease no
    // longer publishes.
    let (mut back, _) = agent_with(
        &relay,
        json!({"type": "hello", "protocol": 1, "publish": true, "resume": [id]}),
    )
    .await;
    let stop = next_json(&mut back).await;
    assert_eq!(stop["type"], "stop", "{stop}");
    assert_eq!(stop["stream_id"], id.as_str());
    let offer = media_support::Offer::new(Direction::SendOnly).await;
    let refused = relay
        .post(&first_whip)
        .header("content-type", "application/sdp")
        .body(offer.sdp.clone())
        .send()
        .await
        .unwrap();
    expect_error(refused, 409, "not_lease_holder").await;
    let stream = relay.get_json(&format!("/v1/streams/{id}")).await;
    assert_eq!(stream["lease"], second_id.as_str());
    let _publisher = connected(&relay, &second_whip, Direction::SendOnly).await;
    relay.stop().await;
}
