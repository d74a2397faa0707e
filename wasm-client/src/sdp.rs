//! SDP text handling for WHIP/WHEP: ICE credentials and candidates, the trickle-ICE fragment
//! (RFC 8840) sent for an ICE restart, applying the server's fragment to its answer, and
//! codec ordering. Pure text functions, tested natively.

/// One codec from `RTCRtpSender.getCapabilities()`: MIME type and `sdpFmtpLine`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// E.g. `video/H264`.
    pub mime_type: String,
    /// E.g. `packetization-mode=1;profile-level-id=42e01f`.
    pub fmtp: String,
}

fn lines(sdp: &str) -> impl Iterator<Item = &str> {
    sdp.lines().map(str::trim_end)
}

fn attribute<'a>(sdp: &'a str, name: &str) -> Option<&'a str> {
    lines(sdp).find_map(|l| l.strip_prefix("a=")?.strip_prefix(name)?.strip_prefix(':'))
}

/// `(ice-ufrag, ice-pwd)` of the first section that has them.
pub fn ice_credentials(sdp: &str) -> Option<(String, String)> {
    Some((
        attribute(sdp, "ice-ufrag")?.to_owned(),
        attribute(sdp, "ice-pwd")?.to_owned(),
    ))
}

/// Every `a=candidate:` line, without the `a=` prefix.
pub fn candidates(sdp: &str) -> Vec<&str> {
    lines(sdp)
        .filter_map(|l| l.strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .collect()
}

/// Whether an offer or answer is usable: it has a video section and ICE credentials.
pub fn check(sdp: &str) -> Result<(), &'static str> {
    if !lines(sdp).any(|l| l.starts_with("m=video")) {
        return Err("no video section");
    }
    if ice_credentials(sdp).is_none() {
        return Err("no ICE credentials");
    }
    Ok(())
}

/// The `application/trickle-ice-sdpfrag` body announcing new ICE credentials and all
/// candidates of `offer` (used for an ICE restart): credentials, then the first m-line with
/// its `mid` and candidates (bundle means one transport).
pub fn restart_fragment(offer: &str) -> Option<String> {
    let (ufrag, pwd) = ice_credentials(offer)?;
    let m_line = lines(offer).find(|l| l.starts_with("m="))?;
    let mid = attribute(offer, "mid")?;
    let mut frag = format!("a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\n{m_line}\r\na=mid:{mid}\r\n");
    for candidate in candidates(offer) {
        frag.push_str("a=");
        frag.push_str(candidate);
        frag.push_str("\r\n");
    }
    frag.push_str("a=end-of-candidates\r\n");
    Some(frag)
}

/// The previous remote answer with the ICE credentials and candidates of the server's restart
/// fragment, ready for `setRemoteDescription` after `restartIce()`.
pub fn apply_restart_fragment(answer: &str, fragment: &str) -> Option<String> {
    let (ufrag, pwd) = ice_credentials(fragment)?;
    let new_candidates = candidates(fragment);
    let mut out = String::with_capacity(answer.len());
    let mut in_media = false;
    let mut inserted = false;
    for line in lines(answer).filter(|l| !l.is_empty()) {
        if line.starts_with("a=candidate:") || line == "a=end-of-candidates" {
            continue;
        }
        if line.starts_with("m=") {
            in_media = true;
        }
        let replaced = if line.starts_with("a=ice-ufrag:") {
            format!("a=ice-ufrag:{ufrag}")
        } else if line.starts_with("a=ice-pwd:") {
            format!("a=ice-pwd:{pwd}")
        } else {
            line.to_owned()
        };
        out.push_str(&replaced);
        out.push_str("\r\n");
        // Candidates go right after the first section's mid (bundled transport).
        if in_media && !inserted && line.starts_with("a=mid:") {
            for candidate in &new_candidates {
                out.push_str("a=");
                out.push_str(candidate);
                out.push_str("\r\n");
            }
            out.push_str("a=end-of-candidates\r\n");
            inserted = true;
        }
    }
    Some(out)
}

/// Rank of a codec, lower first: the preferred family (with packetization-mode 1 and
/// constrained baseline first for H.264), then the other media codecs, then the helpers
/// (rtx, red, ulpfec), which must stay in the list.
fn rank(codec: &Codec, preferred: &str) -> u8 {
    let name = codec
        .mime_type
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if name == preferred {
        let fmtp = codec.fmtp.to_ascii_lowercase();
        // Parameter by parameter rather than `str::contains`, whose substring search costs
        // kilobytes of wasm.
        let params = || fmtp.split(';').map(str::trim);
        let mode1 = params().any(|p| p == "packetization-mode=1");
        let baseline = params().any(|p| p.starts_with("profile-level-id=42e0"));
        match (mode1, baseline) {
            (true, true) => 0,
            (true, false) => 1,
            _ => 2,
        }
    } else if matches!(name.as_str(), "rtx" | "red" | "ulpfec" | "flexfec-03") {
        4
    } else {
        3
    }
}

/// Indices of `codecs` in preference order for `setCodecPreferences`, `preferred` first
/// (e.g. `"h264"`). Stable for equal ranks.
pub fn codec_order(codecs: &[Codec], preferred: &str) -> Vec<usize> {
    let preferred = preferred.to_ascii_lowercase();
    let ranks: Vec<u8> = codecs.iter().map(|c| rank(c, &preferred)).collect();
    // Ranks are 0..=4: bucketing keeps equal ranks in order without a sort routine.
    (0..=4u8)
        .flat_map(|r| {
            ranks
                .iter()
                .enumerate()
                .filter(move |(_, rank)| **rank == r)
                .map(|(i, _)| i)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\n\
        a=ice-pwd:secretsecretsecretsecret\r\na=mid:0\r\na=sendonly\r\n\
        a=rtpmap:96 H264/90000\r\na=rtpmap:97 rtx/90000\r\n\
        a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n\
        a=candidate:2 1 udp 2122260223 10.0.0.2 50001 typ host\r\n";

    #[test]
    fn reads_credentials_and_candidates() {
        assert_eq!(
            ice_credentials(OFFER),
            Some(("abcd".into(), "secretsecretsecretsecret".into()))
        );
        assert_eq!(candidates(OFFER).len(), 2);
        assert_eq!(check(OFFER), Ok(()));
        assert_eq!(check("v=0\r\nm=audio 9 RTP 0\r\n"), Err("no video section"));
    }

    #[test]
    fn restart_fragment_has_credentials_mid_and_candidates() {
        let frag = restart_fragment(OFFER).unwrap();
        assert!(frag.starts_with("a=ice-ufrag:abcd\r\na=ice-pwd:"));
        assert!(frag.contains("m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\na=mid:0\r\n"));
        assert_eq!(frag.matches("a=candidate:").count(), 2);
        assert!(frag.ends_with("a=end-of-candidates\r\n"));
    }

    #[test]
    fn applies_the_servers_fragment_to_the_answer() {
        let server = "a=ice-ufrag:new1\r\na=ice-pwd:newpassword\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n\
            a=mid:0\r\na=candidate:9 1 udp 1 192.0.2.1 4000 typ host\r\n";
        let answer = apply_restart_fragment(OFFER, server).unwrap();
        assert!(answer.contains("a=ice-ufrag:new1\r\n"));
        assert!(answer.contains("a=ice-pwd:newpassword\r\n"));
        assert!(!answer.contains("abcd"));
        assert_eq!(
            candidates(&answer),
            ["candidate:9 1 udp 1 192.0.2.1 4000 typ host"]
        );
    }

    #[test]
    fn prefers_h264_mode1_baseline_and_keeps_helpers_last() {
        let c = |m: &str, f: &str| Codec {
            mime_type: m.into(),
            fmtp: f.into(),
        };
        let codecs = [
            c("video/VP8", ""),
            c("video/rtx", "apt=96"),
            c("video/H264", "packetization-mode=0;profile-level-id=42e01f"),
            c("video/H264", "packetization-mode=1;profile-level-id=4d001f"),
            c("video/H264", "packetization-mode=1;profile-level-id=42e01f"),
            c("video/AV1", ""),
        ];
        assert_eq!(codec_order(&codecs, "h264"), [4, 3, 2, 0, 5, 1]);
        assert_eq!(codec_order(&codecs, "vp8")[0], 0);
    }
}
