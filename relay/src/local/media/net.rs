//! Which addresses the shared UDP socket is announced on, and which of them a datagram hit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::config::MediaSettings;

/// The host candidates for a socket bound per `settings` on `port`: the configured
/// announcements (loopback first when the socket also listens there, so a browser on this
/// machine keeps working), else the bound interfaces.
pub(super) fn candidates(settings: &MediaSettings, port: u16) -> Vec<SocketAddr> {
    if settings.announce.is_empty() {
        return candidate_ips(settings.bind)
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
    }
    let mut out = Vec::new();
    if settings.bind.is_unspecified() || settings.bind.is_loopback() {
        out.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    for announced in &settings.announce {
        let addr = SocketAddr::new(announced.ip, announced.port.unwrap_or(port));
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

/// IPv4 addresses to announce as host candidates for a socket bound to `bind`: that address
/// alone, or for the unspecified address loopback first, then every non-loopback,
/// non-link-local interface address (so peers in other network namespaces can reach us).
fn candidate_ips(bind: IpAddr) -> Vec<IpAddr> {
    if !bind.is_unspecified() {
        return vec![bind];
    }
    let mut ips = vec![IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    for interface in interfaces {
        if let IpAddr::V4(v4) = interface.ip()
            && !v4.is_loopback()
            && !v4.is_link_local()
            && !v4.is_unspecified()
            && !ips.contains(&IpAddr::V4(v4))
        {
            ips.push(IpAddr::V4(v4));
        }
    }
    ips
}

/// The local candidate a datagram from `source` most likely arrived on.
///
/// The socket is bound to the wildcard address, so the kernel does not tell us; ICE needs it
/// to match the datagram to a local candidate. A source that is one of our own addresses
/// talked to that address; otherwise the candidate sharing the longest prefix is the
/// interface on the source's subnet (or, behind NAT, the one announced address).
pub(super) fn destination_for(source: SocketAddr, local: &[SocketAddr], port: u16) -> SocketAddr {
    local
        .iter()
        .copied()
        .find(|candidate| candidate.ip() == source.ip())
        .or_else(|| {
            local
                .iter()
                .copied()
                .max_by_key(|candidate| common_prefix_len(candidate.ip(), source.ip()))
        })
        .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
}

fn common_prefix_len(a: IpAddr, b: IpAddr) -> u32 {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (a.to_bits() ^ b.to_bits()).leading_zeros(),
        (IpAddr::V6(a), IpAddr::V6(b)) => (a.to_bits() ^ b.to_bits()).leading_zeros(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn settings(bind: &str, announce: &[&str]) -> MediaSettings {
        MediaSettings {
            announce: announce.iter().map(|a| a.parse().unwrap()).collect(),
            ..MediaSettings::on(bind.parse().unwrap())
        }
    }

    #[test]
    fn loopback_is_always_a_candidate() {
        let ips = candidate_ips(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(ips[0], IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn a_specific_bind_announces_only_itself() {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(candidate_ips(loopback), vec![loopback]);
    }

    #[test]
    fn without_announcements_the_bound_interfaces_are_announced() {
        assert_eq!(
            candidates(&settings("127.0.0.1", &[]), 7000),
            addrs(&["127.0.0.1:7000"])
        );
        let all = candidates(&settings("0.0.0.0", &[]), 7000);
        assert_eq!(all[0], "127.0.0.1:7000".parse().unwrap());
        assert!(all.iter().all(|a| a.port() == 7000));
    }

    #[test]
    fn announcements_replace_the_interfaces_and_keep_loopback_when_bound_there() {
        let wildcard = settings(
            "0.0.0.0",
            &["203.0.113.7", "198.51.100.2:40000", "203.0.113.7"],
        );
        assert_eq!(
            candidates(&wildcard, 7000),
            addrs(&["127.0.0.1:7000", "203.0.113.7:7000", "198.51.100.2:40000"])
        );
        let specific = settings("192.168.1.5", &["203.0.113.7"]);
        assert_eq!(candidates(&specific, 7000), addrs(&["203.0.113.7:7000"]));
    }

    #[test]
    fn own_addresses_map_to_themselves() {
        let local = addrs(&["127.0.0.1:7000", "192.168.1.5:7000", "10.20.0.1:7000"]);
        let source: SocketAddr = "192.168.1.5:4000".parse().unwrap();
        assert_eq!(
            destination_for(source, &local, 7000),
            "192.168.1.5:7000".parse().unwrap()
        );
    }

    #[test]
    fn remote_sources_map_to_the_interface_on_their_subnet() {
        let local = addrs(&["127.0.0.1:7000", "192.168.1.5:7000", "10.20.0.1:7000"]);
        let source: SocketAddr = "10.20.0.2:5000".parse().unwrap();
        assert_eq!(
            destination_for(source, &local, 7000),
            "10.20.0.1:7000".parse().unwrap()
        );
    }

    #[test]
    fn a_mapped_announcement_is_the_destination_behind_nat() {
        let local = addrs(&["127.0.0.1:7000", "203.0.113.7:40000"]);
        let source: SocketAddr = "198.51.100.9:5000".parse().unwrap();
        assert_eq!(
            destination_for(source, &local, 7000),
            "203.0.113.7:40000".parse().unwrap()
        );
    }
}
