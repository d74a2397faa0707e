//! Where the relay may send the Daydream key and which media URLs it may contact.
//!
//! The key goes only to Daydream's API host, to the local backend, or to a host the operator
//! allowed with `DAYDREAM_ALLOW_API_HOST` (or named in `DAYDREAM_API_URL`). WHIP/WHEP URLs,
//! their redirects and `Location`s come from the remote service; for a stream on the Daydream
//! backend they must be `https` and not name a loopback, private or link-local address, so a
//! rogue answer cannot point the relay at the machine or its network (SSRF). The names in
//! those URLs are checked once more where they are resolved ([`PublicDns`]), so a Daydream
//! or media host name whose DNS answer is such an address gets neither the key nor media.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Daydream's API hosts.
pub const DAYDREAM_API_HOSTS: [&str; 1] = ["api.daydream.live"];

/// The hosts the operator allowed besides Daydream's.
#[derive(Debug, Clone, Default)]
pub struct HostPolicy {
    extra: Vec<String>,
    own: Option<String>,
}

impl HostPolicy {
    /// `extra` are `host` or `host:port` entries (from `DAYDREAM_ALLOW_API_HOST`).
    pub fn new(extra: impl IntoIterator<Item = String>) -> Self {
        Self {
            extra: extra
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
            own: None,
        }
    }

    /// Also lets media URLs name the relay itself (`host:port`): its local backend serves
    /// the media when the API URL is the local backend's.
    #[must_use]
    pub fn with_own(mut self, authority: String) -> Self {
        self.own = Some(authority);
        self
    }

    /// Whether the operator allowed `host` (with any port).
    fn allows_host(&self, host: &str) -> bool {
        self.extra.iter().any(|e| {
            e == host
                || e.rsplit_once(':')
                    .is_some_and(|(h, port)| h == host && port.parse::<u16>().is_ok())
        })
    }

    fn allows(&self, url: &Url) -> bool {
        let Some(host) = url.host_str().map(str::to_ascii_lowercase) else {
            return false;
        };
        let with_port = url.port().map(|p| format!("{host}:{p}"));
        self.extra
            .iter()
            .any(|e| *e == host || with_port.as_deref() == Some(e.as_str()))
    }

    /// Checks an API URL before the key may be sent there.
    pub fn check_api_url(&self, url: &Url) -> Result<(), String> {
        let daydream = url
            .host_str()
            .is_some_and(|h| DAYDREAM_API_HOSTS.contains(&h.to_ascii_lowercase().as_str()));
        if daydream || self.allows(url) {
            if url.scheme() != "https" && !is_loopback(url) {
                return Err(format!(
                    "API URL {url} must use https (plain http only on loopback)"
                ));
            }
            return Ok(());
        }
        Err(format!(
            "{} is not Daydream's API host ({}); the key is sent only there, unless the \
             relay is started with DAYDREAM_ALLOW_API_HOST={0}",
            url.host_str().unwrap_or_default(),
            DAYDREAM_API_HOSTS.join(", ")
        ))
    }

    /// Checks a WHIP/WHEP URL (or a redirect or `Location` from one) of a stream on the
    /// Daydream backend; streams on the local backend skip this (their URLs are the relay's).
    pub fn check_upstream(&self, url: &Url) -> Result<(), String> {
        let own = url
            .host_str()
            .zip(url.port())
            .map(|(h, p)| format!("{h}:{p}"));
        let trusted = self.allows(url) || (own.is_some() && own == self.own);
        if trusted && matches!(url.scheme(), "http" | "https") {
            return Ok(());
        }
        if url.scheme() != "https" {
            return Err(format!("media URL scheme {:?} is not https", url.scheme()));
        }
        let public = match url.host() {
            Some(Host::Domain(d)) => {
                let d = d.to_ascii_lowercase();
                d != "localhost" && !d.ends_with(".localhost")
            }
            Some(Host::Ipv4(ip)) => is_public_v4(ip),
            Some(Host::Ipv6(ip)) => is_public_v6(ip),
            None => false,
        };
        if public {
            Ok(())
        } else {
            Err(format!(
                "media URL host {} is not a public address",
                url.host_str().unwrap_or_default()
            ))
        }
    }
}

/// The DNS resolver of clients on the Daydream backend: it keeps only public addresses of a
/// name, unless the operator allowed that host, and fails when none is left, so neither the
/// key nor media go to this machine or its network through a name.
#[derive(Debug, Clone)]
pub struct PublicDns {
    policy: HostPolicy,
    /// Fixed answers for names (tests), filtered like real ones.
    overrides: Arc<Vec<(String, SocketAddr)>>,
}

impl PublicDns {
    /// A resolver for `policy`'s hosts, answering `overrides` without asking DNS.
    pub fn new(policy: HostPolicy, overrides: Vec<(String, SocketAddr)>) -> Self {
        Self {
            policy,
            overrides: Arc::new(overrides),
        }
    }

    /// The addresses of `host` that may be contacted, from `answers`.
    fn filter(&self, host: &str, answers: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, String> {
        if self.policy.allows_host(host) {
            return Ok(answers);
        }
        let kept: Vec<SocketAddr> = answers
            .into_iter()
            .filter(|a| match a.ip() {
                IpAddr::V4(ip) => is_public_v4(ip),
                IpAddr::V6(ip) => is_public_v6(ip),
            })
            .collect();
        if kept.is_empty() {
            return Err(format!(
                "{host} resolves only to loopback, private or link-local addresses; neither the \
                 key nor media are sent there unless the relay is started with \
                 DAYDREAM_ALLOW_API_HOST={host}"
            ));
        }
        Ok(kept)
    }
}

impl reqwest::dns::Resolve for PublicDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = self.clone();
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            let fixed: Vec<SocketAddr> = dns
                .overrides
                .iter()
                .filter(|(name, _)| *name == host)
                .map(|(_, addr)| *addr)
                .collect();
            let answers = if fixed.is_empty() {
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect()
            } else {
                fixed
            };
            let kept = dns.filter(&host, answers)?;
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b);
    let benchmark = a == 198 && (b == 18 || b == 19);
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || shared
        || benchmark)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    let unique_local = first & 0xfe00 == 0xfc00;
    let link_local = first & 0xffc0 == 0xfe80;
    !(ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || unique_local || link_local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn the_key_goes_only_to_daydream_or_allowed_hosts() {
        let none = HostPolicy::default();
        assert!(
            none.check_api_url(&url("https://api.daydream.live"))
                .is_ok()
        );
        assert!(
            none.check_api_url(&url("http://api.daydream.live"))
                .is_err()
        );
        assert!(none.check_api_url(&url("https://other-host/v1")).is_err());
        assert!(none.check_api_url(&url("http://127.0.0.1:9")).is_err());
        let some = HostPolicy::new(["Staging.Example".to_owned(), "127.0.0.1:9".to_owned()]);
        assert!(some.check_api_url(&url("https://staging.example")).is_ok());
        assert!(some.check_api_url(&url("http://staging.example")).is_err());
        assert!(some.check_api_url(&url("http://127.0.0.1:9")).is_ok());
        assert!(some.check_api_url(&url("http://127.0.0.1:10")).is_err());
    }

    #[test]
    fn dns_answers_keep_only_public_addresses_unless_the_host_is_allowed() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        let dns = PublicDns::new(HostPolicy::new(["staging.example:8443".to_owned()]), vec![]);
        let mixed = vec![addr("127.0.0.1:0"), addr("8.8.8.8:0"), addr("[fd00::1]:0")];
        assert_eq!(
            dns.filter("api.daydream.live", mixed.clone()),
            Ok(vec![addr("8.8.8.8:0")])
        );
        for private in [
            "127.0.0.1:0",
            "10.0.0.7:0",
            "169.254.169.254:0",
            "[::1]:0",
            "[fe80::1]:0",
        ] {
            let refused = dns.filter("api.daydream.live", vec![addr(private)]);
            assert!(
                refused.is_err_and(|e| e.contains("DAYDREAM_ALLOW_API_HOST")),
                "{private}"
            );
        }
        assert_eq!(dns.filter("staging.example", mixed.clone()), Ok(mixed));
    }

    #[test]
    fn media_urls_must_be_https_and_public() {
        let p = HostPolicy::default();
        assert!(
            p.check_upstream(&url("https://ai.livepeer.com/live/x/whip"))
                .is_ok()
        );
        assert!(p.check_upstream(&url("https://8.8.8.8/x")).is_ok());
        for bad in [
            "http://ai.livepeer.com/x",
            "https://localhost/x",
            "https://a.localhost/x",
            "https://127.0.0.1/x",
            "https://10.1.2.3/x",
            "https://192.168.1.1/x",
            "https://169.254.169.254/latest",
            "https://100.64.0.1/x",
            "https://0.0.0.0/x",
            "https://[::1]/x",
            "https://[fd00::1]/x",
            "https://[fe80::1]/x",
            "https://[::ffff:127.0.0.1]/x",
            "file:///etc/passwd",
        ] {
            assert!(p.check_upstream(&url(bad)).is_err(), "{bad}");
        }
        let allowed = HostPolicy::new(["127.0.0.1".to_owned()]);
        assert!(allowed.check_upstream(&url("http://127.0.0.1:5/x")).is_ok());
        let own = HostPolicy::default().with_own("127.0.0.1:8895".into());
        assert!(
            own.check_upstream(&url("http://127.0.0.1:8895/local/x"))
                .is_ok()
        );
        assert!(own.check_upstream(&url("http://127.0.0.1:8896/x")).is_err());
        assert!(own.check_api_url(&url("http://127.0.0.1:8895/x")).is_err());
        assert!(p.check_upstream(&url("https://172.16.0.1/x")).is_err());
        assert!(p.check_upstream(&url("https://198.18.0.1/x")).is_err());
    }
}
