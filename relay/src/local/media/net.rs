//! Which addresses the shared UDP socket is announced on, and which of them a datagram hit.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// IPv4 addresses to announce as host candidates: loopback first, then every non-loopback,
/// non-link-local interface address (so peers in other network namespaces can reach us).
pub(super) fn candidate_ips() -> Vec<IpAddr> {
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

/// The local address a datagram from `source` most likely arrived on.
///
/// The socket is bound to the wildcard address, so the kernel does not tell us; ICE needs it
/// to match the datagram to a local candidate. A source that is one of our own addresses
/// talked to that address; otherwise the candidate sharing the longest prefix is the
/// interface on the source's subnet.
pub(super) fn destination_for(source: SocketAddr, local_ips: &[IpAddr], port: u16) -> SocketAddr {
    let ip = if local_ips.contains(&source.ip()) {
        source.ip()
    } else {
        local_ips
            .iter()
            .copied()
            .max_by_key(|local| common_prefix_len(*local, source.ip()))
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    };
    SocketAddr::new(ip, port)
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

    fn ips(list: &[&str]) -> Vec<IpAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn loopback_is_always_a_candidate() {
        assert_eq!(candidate_ips()[0], IpAddr::V4(Ipv4Addr::LOCALHOST));
    }

    #[test]
    fn own_addresses_map_to_themselves() {
        let local = ips(&["127.0.0.1", "192.168.1.5", "10.20.0.1"]);
        let source: SocketAddr = "192.168.1.5:4000".parse().unwrap();
        assert_eq!(
            destination_for(source, &local, 7000),
            "192.168.1.5:7000".parse().unwrap()
        );
    }

    #[test]
    fn remote_sources_map_to_the_interface_on_their_subnet() {
        let local = ips(&["127.0.0.1", "192.168.1.5", "10.20.0.1"]);
        let source: SocketAddr = "10.20.0.2:5000".parse().unwrap();
        assert_eq!(
            destination_for(source, &local, 7000),
            "10.20.0.1:7000".parse().unwrap()
        );
    }
}
