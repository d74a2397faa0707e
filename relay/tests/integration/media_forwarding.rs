//! A str0m publisher's H.264 frames reach every str0m viewer through the server over real
//! UDP, keyframe requests flow back, and the stream ends cleanly for viewers.

use crate::media_support;

use std::collections::HashSet;
use std::time::Duration;

use media_support::{
    PeerEvent, TestServer, absolute, connect, delete, frame_number, numbered, passthrough,
    pump_until_received,
};
use str0m::media::Direction;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_frames_reach_every_viewer_intact() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_fwd", &passthrough());
    let mut publisher = connect(&server.whip_url("stk_fwd"), Direction::SendOnly).await;
    publisher
        .wait_for("publisher connected", |e| *e == PeerEvent::Connected)
        .await;
    server
        .wait_status("stk_fwd", "publisher", |s| s.publisher_connected)
        .await;

    let mut first = connect(&server.whep_url("stk_fwd"), Direction::RecvOnly).await;
    let mut second = connect(&server.whep_url("stk_fwd"), Direction::RecvOnly).await;
    first
        .wait_for("first viewer connected", |e| *e == PeerEvent::Connected)
        .await;
    second
        .wait_for("second viewer connected", |e| *e == PeerEvent::Connected)
        .await;

    // Let both viewers start receiving, then count what arrives of a numbered run.
    let mut next = 0;
    pump_until_received(&publisher, &mut first, &mut next, 0).await;
    pump_until_received(&publisher, &mut second, &mut next, 0).await;
    let run: Vec<u32> = (next..next + 60).collect();
    let expected: HashSet<Vec<u8>> = run.iter().map(|&n| numbered(n)).collect();
    let mut tick = tokio::time::interval(Duration::from_millis(33));
    for &n in &run {
        tick.tick().await;
        publisher.send_frame(numbered(n));
    }
    let last = *run.last().unwrap();
    for viewer in [&mut first, &mut second] {
        let mut intact = HashSet::new();
        while !intact.contains(&last) {
            let event = tokio::time::timeout(Duration::from_secs(5), viewer.events.recv()).await;
            let Ok(Some(event)) = event else {
                panic!("viewer stopped receiving after {} frames", intact.len());
            };
            if let PeerEvent::Frame(frame, _) = event
                && let Some(n) = frame_number(&frame)
                && run.contains(&n)
            {
                // Frames arrive byte-for-byte as sent: no transcoding, no mangling.
                assert!(
                    expected.contains(&frame),
                    "frame {n} was altered in transit"
                );
                intact.insert(n);
            }
        }
        assert!(
            intact.len() >= 57,
            "only {} of 60 frames arrived",
            intact.len()
        );
    }

    server
        .wait_status("stk_fwd", "media flowing", |s| {
            s.media_flowing && s.viewers == 2 && s.packets_in > 0 && s.packets_out > s.packets_in
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joining_viewer_triggers_a_keyframe_request_at_the_publisher() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_kf", &passthrough());
    let mut publisher = connect(&server.whip_url("stk_kf"), Direction::SendOnly).await;
    publisher
        .wait_for("publisher connected", |e| *e == PeerEvent::Connected)
        .await;
    // Drain requests from the connection itself, then join a viewer.
    while publisher.events.try_recv().is_ok() {}
    let mut viewer = connect(&server.whep_url("stk_kf"), Direction::RecvOnly).await;
    viewer
        .wait_for("viewer connected", |e| *e == PeerEvent::Connected)
        .await;
    publisher
        .wait_for("keyframe request", |e| *e == PeerEvent::KeyframeRequested)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_end_when_the_publisher_leaves() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_leave", &passthrough());
    let mut publisher = connect(&server.whip_url("stk_leave"), Direction::SendOnly).await;
    publisher
        .wait_for("publisher connected", |e| *e == PeerEvent::Connected)
        .await;
    let mut viewer = connect(&server.whep_url("stk_leave"), Direction::RecvOnly).await;
    viewer
        .wait_for("viewer connected", |e| *e == PeerEvent::Connected)
        .await;
    let mut next = 0;
    pump_until_received(&publisher, &mut viewer, &mut next, 0).await;

    assert_eq!(delete(&absolute(&server, &publisher.location)).await, 200);
    viewer
        .wait_for("viewer session ended", |e| *e == PeerEvent::Ended)
        .await;
    server
        .wait_status("stk_leave", "stream offline", |s| {
            !s.publisher_connected && !s.media_flowing && s.viewers == 0
        })
        .await;
    // The viewer's resource is gone too.
    assert_eq!(delete(&absolute(&server, &viewer.location)).await, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_stream_ends_every_session() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_close", &passthrough());
    let mut publisher = connect(&server.whip_url("stk_close"), Direction::SendOnly).await;
    publisher
        .wait_for("publisher connected", |e| *e == PeerEvent::Connected)
        .await;
    server.media.close_stream("stk_close");
    publisher
        .wait_for("publisher session ended", |e| *e == PeerEvent::Ended)
        .await;
    assert_eq!(server.media.status("stk_close"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_publisher_replaces_the_old_one_and_viewers_keep_watching() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_replace", &passthrough());
    let mut old = connect(&server.whip_url("stk_replace"), Direction::SendOnly).await;
    old.wait_for("old publisher connected", |e| *e == PeerEvent::Connected)
        .await;
    let mut viewer = connect(&server.whep_url("stk_replace"), Direction::RecvOnly).await;
    viewer
        .wait_for("viewer connected", |e| *e == PeerEvent::Connected)
        .await;
    let mut next = 0;
    pump_until_received(&old, &mut viewer, &mut next, 0).await;

    // A reloaded tab publishes again without having deleted its old session.
    let mut new = connect(&server.whip_url("stk_replace"), Direction::SendOnly).await;
    new.wait_for("new publisher connected", |e| *e == PeerEvent::Connected)
        .await;
    old.wait_for("old publisher ended", |e| *e == PeerEvent::Ended)
        .await;
    let mut from = 10_000;
    pump_until_received(&new, &mut viewer, &mut from, 10_000).await;
    assert_eq!(delete(&absolute(&server, &old.location)).await, 404);
    let status = server.media.status("stk_replace").unwrap();
    assert!(status.publisher_connected);
    assert_eq!(status.viewers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_that_vanishes_without_delete_ends_its_viewers() {
    let server = TestServer::start().await;
    server.media.open_stream("stk_vanish", &passthrough());
    let mut publisher = connect(&server.whip_url("stk_vanish"), Direction::SendOnly).await;
    publisher
        .wait_for("publisher connected", |e| *e == PeerEvent::Connected)
        .await;
    let mut viewer = connect(&server.whep_url("stk_vanish"), Direction::RecvOnly).await;
    viewer
        .wait_for("viewer connected", |e| *e == PeerEvent::Connected)
        .await;
    let mut next = 0;
    pump_until_received(&publisher, &mut viewer, &mut next, 0).await;

    // A crashed tab: no DELETE, no DTLS close, its packets just stop.
    drop(publisher);
    viewer
        .wait_within("viewer ended", Duration::from_secs(30), |e| {
            *e == PeerEvent::Ended
        })
        .await;
    server
        .wait_status("stk_vanish", "stream offline", |s| {
            !s.publisher_connected && s.viewers == 0
        })
        .await;
}
