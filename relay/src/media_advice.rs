//! What to do when a browser cannot reach a media server. The agent reports the fact
//! (`MEDIA_UNREACHABLE`: ICE never connected); the relay, which knows where the stream's media
//! lives and what its local backend announces, adds the addresses and the fix before the
//! report reaches the Stream object, the UI and the nodes. Pure text, tested here.

use std::net::SocketAddr;

use crate::config::Backend;

/// The code an agent's error summary starts with when ICE never connected.
pub const UNREACHABLE: &str = "MEDIA_UNREACHABLE";

/// `report` (an agent's `CODE: message`) with the addresses tried and what to do when it says
/// the browser cannot reach the media server of a stream on `backend`; others unchanged.
/// `candidates` are the local backend's announced addresses.
pub fn advise(report: String, backend: Backend, candidates: &[SocketAddr]) -> String {
    if !report.starts_with(UNREACHABLE) {
        return report;
    }
    let report = report.trim_end_matches('.');
    if backend == Backend::Daydream {
        return format!(
            "{report}: this browser cannot reach Daydream's media servers (UDP). Let UDP \
             through this browser's firewall or VPN."
        );
    }
    let tried: Vec<String> = candidates.iter().map(ToString::to_string).collect();
    let fix = if candidates.iter().all(|c| c.ip().is_loopback()) {
        "The local backend's media listens on the ComfyUI machine's loopback only: start \
         ComfyUI with --listen (or set RTC_LOCAL_MEDIA_BIND=0.0.0.0) so browsers on other \
         machines reach it"
            .to_owned()
    } else {
        let mut ports: Vec<String> = Vec::new();
        for port in candidates.iter().map(|c| c.port().to_string()) {
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        format!(
            "Open UDP port {} on the machine running ComfyUI, or set RTC_LOCAL_MEDIA_ANNOUNCE \
             to an address this browser reaches (NAT, containers, port mappings)",
            ports.join(", ")
        )
    };
    format!(
        "{report}: this browser cannot reach the media server at {} (UDP). {fix}; or use \
         Daydream.",
        tried.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPORT: &str = "MEDIA_UNREACHABLE: ICE did not connect";

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn media_on_loopback_only_asks_for_listen() {
        let text = advise(REPORT.into(), Backend::Local, &addrs(&["127.0.0.1:41234"]));
        assert!(text.starts_with(REPORT), "{text}");
        assert!(
            text.contains("cannot reach the media server at 127.0.0.1:41234 (UDP). "),
            "{text}"
        );
        assert!(text.contains("start ComfyUI with --listen"), "{text}");
        assert!(text.ends_with("; or use Daydream."), "{text}");
    }

    #[test]
    fn media_beyond_loopback_asks_for_the_port_or_an_announcement() {
        let candidates = addrs(&["127.0.0.1:50000", "192.168.1.20:50000", "203.0.113.7:40000"]);
        let text = advise(REPORT.into(), Backend::Local, &candidates);
        assert!(
            text.contains("at 127.0.0.1:50000, 192.168.1.20:50000, 203.0.113.7:40000 (UDP)"),
            "{text}"
        );
        assert!(
            text.contains("Open UDP port 50000, 40000 on the machine running ComfyUI"),
            "{text}"
        );
        assert!(text.contains("RTC_LOCAL_MEDIA_ANNOUNCE"), "{text}");
    }

    #[test]
    fn daydream_streams_get_daydreams_advice_and_other_reports_stay() {
        let text = advise(REPORT.into(), Backend::Daydream, &addrs(&["127.0.0.1:1"]));
        assert!(text.contains("Let UDP through"), "{text}");
        assert!(!text.contains("127.0.0.1"), "{text}");
        let other = "NOT_READY: no publisher yet".to_owned();
        assert_eq!(advise(other.clone(), Backend::Local, &[]), other);
    }
}
