//! WHIP/WHEP decisions that need no sockets: content type, offer checks, resource ids.

use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use rand::RngCore;
use str0m::change::SdpOffer;

use super::error::MediaError;

/// Which side of the stream a session is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// WHIP: sends media into the stream.
    Publisher,
    /// WHEP: receives the stream's media.
    Viewer,
}

/// Accepts `application/sdp`, with or without parameters, in any letter case.
pub(super) fn check_content_type(headers: &HeaderMap) -> Result<(), MediaError> {
    let media_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match media_type {
        Some(t) if t.eq_ignore_ascii_case("application/sdp") => Ok(()),
        _ => Err(MediaError::UnsupportedContentType),
    }
}

/// Parses an offer and checks what the SFU relies on: a video m-line that can carry H.264,
/// in the direction the role needs.
pub(super) fn check_offer(body: &[u8], role: Role) -> Result<SdpOffer, MediaError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| MediaError::BadSdp("the body is not UTF-8".to_owned()))?;
    if !text.trim_start().starts_with("v=0") {
        return Err(MediaError::BadSdp("it must start with v=0".to_owned()));
    }
    let offer = SdpOffer::from_sdp_string(text).map_err(|e| MediaError::BadSdp(e.to_string()))?;
    let video = video_sections(text);
    let Some(first) = video.first() else {
        return Err(MediaError::NoVideo);
    };
    if !first.codecs.iter().any(|c| c.eq_ignore_ascii_case("H264")) {
        let mut offered = first.codecs.clone();
        offered.dedup();
        let offered = if offered.is_empty() {
            "none".to_owned()
        } else {
            offered.join(", ")
        };
        return Err(MediaError::CodecNotSupported { offered });
    }
    let allowed = match role {
        Role::Publisher => ["sendonly", "sendrecv"],
        Role::Viewer => ["recvonly", "sendrecv"],
    };
    if !allowed.contains(&first.direction) {
        return Err(MediaError::BadDirection {
            found: first.direction.to_owned(),
        });
    }
    Ok(offer)
}

#[derive(Debug)]
struct VideoSection<'a> {
    codecs: Vec<String>,
    direction: &'a str,
}

/// The video m-sections of an SDP, with their codec names and direction.
fn video_sections(sdp: &str) -> Vec<VideoSection<'_>> {
    let mut sections = Vec::new();
    let mut current: Option<VideoSection<'_>> = None;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(media) = line.strip_prefix("m=") {
            sections.extend(current.take());
            if media.starts_with("video ") {
                current = Some(VideoSection {
                    codecs: Vec::new(),
                    direction: "sendrecv",
                });
            }
            continue;
        }
        let Some(section) = current.as_mut() else {
            continue;
        };
        if let Some(rtpmap) = line.strip_prefix("a=rtpmap:") {
            let name = rtpmap
                .split_whitespace()
                .nth(1)
                .and_then(|enc| enc.split('/').next());
            if let Some(name) = name {
                // Retransmission and FEC formats are not codecs a user picked.
                let helper = ["rtx", "red", "ulpfec", "flexfec-03"];
                if !helper.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                    section.codecs.push(name.to_owned());
                }
            }
        } else if let Some(dir) = line
            .strip_prefix("a=")
            .filter(|a| ["sendonly", "recvonly", "sendrecv", "inactive"].contains(a))
        {
            section.direction = dir;
        }
    }
    sections.extend(current);
    sections
}

/// An unguessable id for a session resource (128 bits from the OS-seeded CSPRNG).
pub(super) fn new_session_id() -> String {
    random_hex::<16>()
}

/// A strong entity tag for a session's ICE state.
pub(super) fn new_etag() -> String {
    format!("\"{}\"", random_hex::<8>())
}

fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The WHEP URL advertised in `Livepeer-Playback-URL`, built from the request's `Host`.
pub(super) fn playback_url(host: &str, stream_key: &str) -> String {
    format!("http://{host}/local{}", super::whep_path(stream_key))
}

/// Whether a browser origin may read our responses: loopback pages and the relay itself.
pub(super) fn origin_allowed(origin: &str, host: Option<&str>) -> bool {
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    if host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
        return true;
    }
    let hostname = match authority.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => authority,
    };
    matches!(hostname, "127.0.0.1" | "localhost" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn offer(media: &str) -> String {
        let (m_line, attributes) = media.split_once("\r\n").unwrap_or((media, ""));
        [
            "v=0",
            "o=- 1 2 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            "a=group:BUNDLE 0",
            "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF",
            "a=ice-ufrag:abcd",
            "a=ice-pwd:abcdefghijklmnopqrstuvwx",
            "a=setup:actpass",
            m_line,
            "c=IN IP4 0.0.0.0",
            "a=mid:0",
            "a=rtcp-mux",
            "a=msid:s t",
            attributes,
        ]
        .join("\r\n")
            + "\r\n"
    }

    fn video(formats: &str, maps: &[&str], direction: &str) -> String {
        let mut lines = vec![format!("m=video 9 UDP/TLS/RTP/SAVPF {formats}")];
        lines.extend(maps.iter().map(|m| format!("a=rtpmap:{m}")));
        lines.push(format!("a={direction}"));
        lines.join("\r\n")
    }

    #[test]
    fn content_type_accepts_parameters_and_case() {
        let mut headers = HeaderMap::new();
        assert_eq!(
            check_content_type(&headers),
            Err(MediaError::UnsupportedContentType)
        );
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("Application/SDP; x=1"),
        );
        assert_eq!(check_content_type(&headers), Ok(()));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(
            check_content_type(&headers),
            Err(MediaError::UnsupportedContentType)
        );
    }

    #[test]
    fn h264_offer_is_accepted_for_both_roles() {
        let pub_offer = offer(&video(
            "102 103",
            &["102 H264/90000", "103 rtx/90000"],
            "sendonly",
        ));
        assert!(check_offer(pub_offer.as_bytes(), Role::Publisher).is_ok());
        let view_offer = offer(&video("102", &["102 H264/90000"], "recvonly"));
        assert!(check_offer(view_offer.as_bytes(), Role::Viewer).is_ok());
    }

    #[test]
    fn non_h264_offer_names_the_codecs() {
        let vp8 = offer(&video(
            "96 97 98",
            &["96 VP8/90000", "97 rtx/90000", "98 VP9/90000"],
            "sendonly",
        ));
        assert_eq!(
            check_offer(vp8.as_bytes(), Role::Publisher).unwrap_err(),
            MediaError::CodecNotSupported {
                offered: "VP8, VP9".to_owned()
            }
        );
    }

    #[test]
    fn direction_must_match_the_role() {
        let recv = offer(&video("102", &["102 H264/90000"], "recvonly"));
        assert_eq!(
            check_offer(recv.as_bytes(), Role::Publisher).unwrap_err(),
            MediaError::BadDirection {
                found: "recvonly".to_owned()
            }
        );
        let send = offer(&video("102", &["102 H264/90000"], "sendonly"));
        assert!(matches!(
            check_offer(send.as_bytes(), Role::Viewer),
            Err(MediaError::BadDirection { .. })
        ));
    }

    #[test]
    fn garbage_and_audio_only_are_rejected() {
        assert!(matches!(
            check_offer(b"hello", Role::Publisher),
            Err(MediaError::BadSdp(_))
        ));
        assert!(matches!(
            check_offer(&[0xff, 0xfe], Role::Publisher),
            Err(MediaError::BadSdp(_))
        ));
        let audio =
            offer("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\na=sendonly");
        assert_eq!(
            check_offer(audio.as_bytes(), Role::Publisher).unwrap_err(),
            MediaError::NoVideo
        );
    }

    #[test]
    fn ids_are_random_and_long() {
        let a = new_session_id();
        assert_eq!(a.len(), 32);
        assert_ne!(a, new_session_id());
        assert!(new_etag().starts_with('"') && new_etag().ends_with('"'));
    }

    #[test]
    fn only_loopback_or_same_origin_is_allowed() {
        assert!(origin_allowed("http://127.0.0.1:8188", None));
        assert!(origin_allowed("http://localhost", None));
        assert!(origin_allowed(
            "http://relay.lan:8895",
            Some("relay.lan:8895")
        ));
        assert!(!origin_allowed(
            "http://evil.example",
            Some("127.0.0.1:8895")
        ));
        assert!(!origin_allowed("null", None));
        assert!(!origin_allowed("http://127.0.0.1.evil.example", None));
    }

    #[test]
    fn playback_url_points_at_whep() {
        assert_eq!(
            playback_url("127.0.0.1:9", "stk_a"),
            "http://127.0.0.1:9/local/live/video-to-video/stk_a-out/whep"
        );
    }
}
