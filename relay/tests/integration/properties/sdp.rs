//! SDP offers: the relay's signalling route and, behind it, the local backend's offer checks
//! and str0m's parser, fed mutations of a real offer.

use futures_util::StreamExt;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use str0m::media::Direction;

use super::{check, runtime};
use crate::common::{Relay, agent, next_of_type};
use crate::media_support::Offer;

/// What a refused offer may be answered with (docs/ARCHITECTURE.md, WHIP/WHEP errors).
const DOCUMENTED: [(u16, &str); 7] = [
    (400, "bad_sdp"),
    (413, "offer_too_large"),
    (413, "payload_too_large"),
    (415, "unsupported_media_type"),
    (422, "no_video"),
    (422, "codec_not_supported"),
    (422, "bad_direction"),
];

#[derive(Debug, Clone)]
enum Edit {
    Delete(Index),
    Duplicate(Index),
    Replace(Index, String),
    Insert(Index, String),
    /// Swaps one codec or direction word for another everywhere.
    Swap(&'static str, &'static str),
    Truncate(Index),
    /// Overwrites one byte, which may leave the body invalid UTF-8.
    Byte(Index, u8),
    BareNewlines,
}

fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]=[ -~]{0,40}",
        "m=(video|audio|application) [0-9]{1,6} [A-Z/]{0,12}( [0-9]{1,3}){0,3}",
        "a=rtpmap:[0-9]{1,3} [A-Za-z0-9-]{0,8}/[0-9]{0,6}",
        "a=(sendonly|recvonly|sendrecv|inactive)",
        "a=fmtp:[0-9]{1,3} [ -~]{0,30}",
        "a=(ice-ufrag|ice-pwd|fingerprint|setup|mid|group):[ -~]{0,20}",
        ".{0,30}",
    ]
}

fn edit() -> impl Strategy<Value = Edit> {
    let words = prop_oneof![
        Just(("H264", "VP8")),
        Just(("sendonly", "recvonly")),
        Just(("sendonly", "inactive")),
        Just(("video", "audio")),
        Just(("v=0", "v=1")),
        Just(("IN IP4", "IN IP9")),
    ];
    prop_oneof![
        any::<Index>().prop_map(Edit::Delete),
        any::<Index>().prop_map(Edit::Duplicate),
        (any::<Index>(), line()).prop_map(|(i, l)| Edit::Replace(i, l)),
        (any::<Index>(), line()).prop_map(|(i, l)| Edit::Insert(i, l)),
        words.prop_map(|(a, b)| Edit::Swap(a, b)),
        any::<Index>().prop_map(Edit::Truncate),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
        Just(Edit::BareNewlines),
    ]
}

fn apply(offer: &str, edits: &[Edit]) -> Vec<u8> {
    let mut lines: Vec<String> = offer.split("\r\n").map(str::to_owned).collect();
    let mut bytes = None::<Vec<u8>>;
    let mut separator = "\r\n";
    for edit in edits {
        match edit {
            Edit::Delete(i) if !lines.is_empty() => {
                lines.remove(i.index(lines.len()));
            }
            Edit::Duplicate(i) if !lines.is_empty() => {
                let at = i.index(lines.len());
                lines.insert(at, lines[at].clone());
            }
            Edit::Replace(i, l) if !lines.is_empty() => {
                let at = i.index(lines.len());
                lines[at].clone_from(l);
            }
            Edit::Insert(i, l) => lines.insert(i.index(lines.len() + 1), l.clone()),
            Edit::Swap(a, b) => lines.iter_mut().for_each(|l| *l = l.replace(a, b)),
            Edit::BareNewlines => separator = "\n",
            Edit::Truncate(i) => {
                let mut all = lines.join(separator).into_bytes();
                all.truncate(i.index(all.len() + 1));
                bytes = Some(all);
            }
            Edit::Byte(i, b) => {
                let mut all = bytes
                    .take()
                    .unwrap_or_else(|| lines.join(separator).into_bytes());
                if !all.is_empty() {
                    let at = i.index(all.len());
                    all[at] = *b;
                }
                bytes = Some(all);
            }
            _ => {}
        }
    }
    bytes.unwrap_or_else(|| lines.join(separator).into_bytes())
}

#[test]
fn any_offer_is_answered_or_refused_with_a_documented_error() {
    let rt = runtime();
    let (relay, whip_url, offer) = rt.block_on(async {
        let relay = Relay::start().await;
        relay.default_stream().await;
        let (mut ws, _) = agent(&relay, true).await;
        let grant = next_of_type(&mut ws, "publish").await;
        let whip_url = relay.url(grant["whip_url"].as_str().unwrap());
        let offer = Offer::new(Direction::SendOnly).await.sdp;
        // Reading the socket answers the relay's pings, so the agent keeps its lease.
        tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} });
        (relay, whip_url, offer)
    });
    let content_type = prop_oneof![
        8 => Just("application/sdp"),
        1 => Just("application/sdp; charset=utf-8"),
        1 => Just("text/plain"),
    ];
    check(
        300,
        (vec(edit(), 0..5), content_type),
        |(edits, content_type)| {
            let body = apply(&offer, &edits);
            let response = rt.block_on(
                relay
                    .http
                    .post(&whip_url)
                    .bearer_auth(crate::common::TOKEN)
                    .header("content-type", content_type)
                    .body(body)
                    .send(),
            );
            let response = response.expect("the relay answers every offer");
            let status = response.status().as_u16();
            let text = rt.block_on(response.text()).unwrap();
            if status == 201 {
                prop_assert!(text.starts_with("v=0"), "an SDP answer: {text}");
                return Ok(());
            }
            documented_refusal(status, &text)
        },
    );
    rt.block_on(relay.stop());
}

fn documented_refusal(status: u16, text: &str) -> Result<(), TestCaseError> {
    let body: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| TestCaseError::fail(format!("HTTP {status}, not JSON ({e}): {text}")))?;
    let code = body["error"]["code"].as_str().unwrap_or_default();
    prop_assert!(
        DOCUMENTED.contains(&(status, code)),
        "undocumented answer HTTP {status} {body}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "the body limit's 413 is plain text, not the JSON error shape (issue #13, item 9)"]
async fn an_oversized_offer_is_refused_with_a_json_error() {
    let relay = Relay::start().await;
    let stream = relay.default_stream().await;
    let path = format!("/v1/streams/{}/whip", stream["id"].as_str().unwrap());
    let response = relay
        .post(&path)
        .header("content-type", "application/sdp")
        .body(format!("v=0\r\n{}", "a".repeat(200 * 1024)))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    documented_refusal(status, &response.text().await.unwrap()).unwrap();
    relay.stop().await;
}
