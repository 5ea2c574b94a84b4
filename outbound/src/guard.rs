//! SSRF protection: a webhook URL is typed by a user, so without care it
//! could make our servers call their own neighbours (databases, admin
//! interfaces, the cloud metadata service at 169.254.169.254 handing out
//! credentials) on the user's behalf.
//!
//! Two checks, both needed:
//!
//! - [`check_url`], when an endpoint is created or changed: https only, no
//!   `user:password@`, a host, an allowed port, and an IP-literal host must
//!   be a public address. It fails early with a message for the user.
//! - [`resolve_checked`] (and the delivery client's resolver, which uses the
//!   same rules), at every attempt: the host is resolved again (never
//!   cached, so a name that later points at 10.0.0.1 is caught) and refused
//!   if *any* of its addresses is not public, or if it has none. The
//!   connection then only goes to the addresses just checked, so a DNS
//!   answer that changes between the check and the connection (DNS
//!   rebinding) cannot slip through.
//!
//! [`Policy::allow_private`] lifts the address rules (and allows plain
//! http) for development and tests, where receivers run on localhost.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use url::{Host, Url};

/// Longest webhook URL accepted: longer ones are mistakes, and receivers'
/// servers refuse long request lines anyway.
pub const MAX_URL_LEN: usize = 2048;

/// A boxed future that can move between threads, so [`Resolver`] stays
/// usable as `dyn Resolver` without `async_trait`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Turns a host name into addresses. Injected, so that tests decide what
/// names resolve to (and count lookups) without DNS.
pub trait Resolver: Send + Sync + 'static {
    /// All addresses of `host`, with `port` set on each.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<SocketAddr>>>;
}

/// The operating system's resolver (`getaddrinfo` through
/// [`tokio::net::lookup_host`]), for production.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<SocketAddr>>> {
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }
}

/// A fixed table of names and their addresses, for tests: no DNS traffic,
/// any name can point anywhere, and [`StaticResolver::lookups`] shows that
/// every attempt resolved again. Unknown names fail like NXDOMAIN.
#[derive(Debug, Default)]
pub struct StaticResolver {
    hosts: HashMap<String, Vec<IpAddr>>,
    lookups: AtomicUsize,
}

impl StaticResolver {
    /// An empty table: every name fails to resolve.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The table with `host` (case-insensitive) resolving to `addrs`, in
    /// this order; an empty list resolves successfully to no address.
    #[must_use]
    pub fn with(mut self, host: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        self.hosts
            .insert(host.to_ascii_lowercase(), addrs.into_iter().collect());
        self
    }

    /// How many lookups were made so far, successful or not.
    #[must_use]
    pub fn lookups(&self) -> usize {
        self.lookups.load(Ordering::SeqCst)
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'_, io::Result<Vec<SocketAddr>>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let result = match self.hosts.get(&host.to_ascii_lowercase()) {
            Some(addrs) => Ok(addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect()),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no such host: {host}"),
            )),
        };
        Box::pin(std::future::ready(result))
    }
}

/// What destinations are allowed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allow every address (loopback, private networks …) and plain http:
    /// for development and tests only. Off by default.
    pub allow_private: bool,
}

/// Why a destination was refused; each message says which URL part or
/// address and why, so a user can fix the endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    /// Longer than [`MAX_URL_LEN`].
    #[error("the URL is {0} characters long; at most {MAX_URL_LEN} are allowed")]
    TooLong(usize),
    /// Not a URL at all.
    #[error("not a valid URL: {0}")]
    InvalidUrl(String),
    /// A scheme other than https (or http when private destinations are
    /// allowed).
    #[error("the scheme `{0}` is not allowed: webhook URLs start with https://")]
    Scheme(String),
    /// `user:password@` in the URL.
    #[error(
        "the URL contains a user name or password (`user:password@`); put credentials in a custom header instead"
    )]
    Credentials,
    /// No host (cannot happen for http(s) URLs, kept for safety).
    #[error("the URL has no host")]
    NoHost,
    /// A port outside 80, 443 and 1024-65535.
    #[error(
        "port {0} is not allowed: use 443, 80 or a port from 1024 to 65535 (lower ports belong to other protocols)"
    )]
    Port(u16),
    /// The host is, or resolves to, at least one non-public address.
    #[error("`{host}` is refused: {}; webhooks only go to public internet addresses", describe(.refused))]
    Forbidden {
        /// The host as written in the URL.
        host: String,
        /// Every refused address with the reason.
        refused: Vec<(IpAddr, String)>,
    },
    /// The name could not be resolved.
    #[error("`{host}` could not be resolved: {why}")]
    Unresolved {
        /// The host name.
        host: String,
        /// The resolver's error.
        why: String,
    },
    /// The name resolved to no address.
    #[error("`{0}` resolves to no address")]
    NoAddresses(String),
}

fn describe(refused: &[(IpAddr, String)]) -> String {
    let mut text = String::new();
    for (i, (ip, why)) in refused.iter().enumerate() {
        if i > 0 {
            text.push_str(", ");
        }
        let _ = write!(text, "{ip} is {why}");
    }
    text
}

/// Why `ip` may not be called (unless private destinations are allowed),
/// or `None` for a public address.
///
/// IPv6 addresses that carry an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`,
/// IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
/// `2002:aabb:ccdd::`) are judged by that IPv4 address, since that is where
/// the packets end up. Other clouds' metadata services fall in ranges
/// refused anyway (Alibaba's 100.100.100.200 in CGNAT space, AWS's
/// `fd00:ec2::254` in unique local space).
#[must_use]
pub fn forbidden_reason(ip: IpAddr) -> Option<String> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4).map(str::to_owned),
        IpAddr::V6(v6) => v6_reason(v6),
    }
}

/// Whether `ip` may not be called: see [`forbidden_reason`].
#[must_use]
pub fn is_forbidden(ip: IpAddr) -> bool {
    forbidden_reason(ip).is_some()
}

fn v4_reason(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let reason = if ip == Ipv4Addr::BROADCAST {
        "the broadcast address"
    } else if ip == Ipv4Addr::new(169, 254, 169, 254) {
        "link-local: the cloud metadata service"
    } else if a == 0 {
        "unspecified (0.0.0.0/8, \"this network\")"
    } else if a == 127 {
        "loopback (127.0.0.0/8)"
    } else if a == 10 || (a == 172 && (16..=31).contains(&b)) || (a == 192 && b == 168) {
        "a private network address (10/8, 172.16/12, 192.168/16)"
    } else if a == 169 && b == 254 {
        "link-local (169.254.0.0/16)"
    } else if a == 100 && (64..=127).contains(&b) {
        "carrier-grade NAT space (100.64.0.0/10)"
    } else if a == 192 && b == 0 && c == 0 {
        "reserved for IETF protocol assignments (192.0.0.0/24)"
    } else if (a == 192 && b == 0 && c == 2)
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
    {
        "reserved for documentation (TEST-NET)"
    } else if a == 192 && b == 88 && c == 99 {
        "the deprecated 6to4 relay anycast range (192.88.99.0/24)"
    } else if a == 198 && (b == 18 || b == 19) {
        "reserved for benchmarking (198.18.0.0/15)"
    } else if (224..=239).contains(&a) {
        "multicast (224.0.0.0/4)"
    } else if a >= 240 {
        "reserved (240.0.0.0/4)"
    } else {
        return None;
    };
    Some(reason)
}

fn embedded(form: &str, v4: Ipv4Addr) -> Option<String> {
    v4_reason(v4).map(|why| format!("the {form} form of {v4}, {why}"))
}

fn v6_reason(ip: Ipv6Addr) -> Option<String> {
    let s = ip.segments();
    let fixed = |why: &str| Some(why.to_owned());
    let low_v4 = || Ipv4Addr::from(u32::from(s[6]) << 16 | u32::from(s[7]));
    if ip.is_unspecified() {
        fixed("unspecified (::)")
    } else if ip.is_loopback() {
        fixed("loopback (::1)")
    } else if s[..5] == [0; 5] && s[5] == 0xffff {
        embedded("IPv4-mapped", low_v4())
    } else if s[..6] == [0; 6] {
        embedded("IPv4-compatible", low_v4())
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        embedded("NAT64", low_v4())
    } else if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        fixed("local-use NAT64 (64:ff9b:1::/48)")
    } else if s[0] == 0x2002 {
        embedded(
            "6to4",
            Ipv4Addr::from(u32::from(s[1]) << 16 | u32::from(s[2])),
        )
    } else if s[0] == 0x2001 && s[1] == 0 {
        fixed("Teredo tunnelling (2001::/32)")
    } else if s[0] == 0x2001 && s[1] < 0x200 {
        fixed("reserved for IETF protocol assignments (2001::/23)")
    } else if (s[0] == 0x2001 && s[1] == 0xdb8) || (s[0] == 0x3fff && s[1] < 0x1000) {
        fixed("reserved for documentation (2001:db8::/32, 3fff::/20)")
    } else if s[0] & 0xfe00 == 0xfc00 {
        fixed("a unique local address (fc00::/7)")
    } else if s[0] & 0xffc0 == 0xfe80 {
        fixed("link-local (fe80::/10)")
    } else if s[0] & 0xffc0 == 0xfec0 {
        fixed("site-local (fec0::/10)")
    } else if s[0] >> 8 == 0xff {
        fixed("multicast (ff00::/8)")
    } else if s[0] & 0xe000 != 0x2000 {
        fixed("not a global unicast address (outside 2000::/3)")
    } else {
        None
    }
}

fn port_allowed(port: u16) -> bool {
    port == 80 || port == 443 || port >= 1024
}

/// Checks a webhook URL when an endpoint is created or changed: parses it,
/// then see [`check_parsed`]. Names are not resolved here (they are at
/// every attempt).
pub fn check_url(url: &str, policy: &Policy) -> Result<Url, GuardError> {
    if url.len() > MAX_URL_LEN {
        return Err(GuardError::TooLong(url.len()));
    }
    let parsed = Url::parse(url).map_err(|e| GuardError::InvalidUrl(e.to_string()))?;
    check_parsed(&parsed, policy)?;
    Ok(parsed)
}

/// Checks everything about a URL that needs no DNS: the scheme (https; also
/// http with [`Policy::allow_private`]), no `user:password@`, a host, a port
/// of 80, 443 or 1024-65535, and an IP-literal host (`https://10.0.0.1/`,
/// `https://[::1]/`, also spelled `https://2130706433/`) judged directly.
pub fn check_parsed(url: &Url, policy: &Policy) -> Result<(), GuardError> {
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        other => return Err(GuardError::Scheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(GuardError::Credentials);
    }
    let host = url.host().ok_or(GuardError::NoHost)?;
    let port = url.port_or_known_default().ok_or(GuardError::NoHost)?;
    if !port_allowed(port) {
        return Err(GuardError::Port(port));
    }
    let literal = match host {
        Host::Domain("") => return Err(GuardError::NoHost),
        Host::Domain(_) => return Ok(()),
        Host::Ipv4(v4) => IpAddr::V4(v4),
        Host::Ipv6(v6) => IpAddr::V6(v6),
    };
    judge(&literal.to_string(), &[literal], policy)
}

fn judge(host: &str, ips: &[IpAddr], policy: &Policy) -> Result<(), GuardError> {
    if policy.allow_private {
        return Ok(());
    }
    let refused: Vec<(IpAddr, String)> = ips
        .iter()
        .filter_map(|ip| forbidden_reason(*ip).map(|why| (*ip, why)))
        .collect();
    if refused.is_empty() {
        Ok(())
    } else {
        Err(GuardError::Forbidden {
            host: host.to_owned(),
            refused,
        })
    }
}

/// Resolves `host` with `resolver` now (nothing is cached) and returns its
/// addresses if every one of them is allowed; refuses a name with no
/// address or with any forbidden one (a name resolving to a public and a
/// private address could otherwise be made to connect to the private one).
pub async fn resolve_host(
    host: &str,
    port: u16,
    policy: &Policy,
    resolver: &dyn Resolver,
) -> Result<Vec<SocketAddr>, GuardError> {
    let addrs = resolver
        .resolve(host, port)
        .await
        .map_err(|e| GuardError::Unresolved {
            host: host.to_owned(),
            why: e.to_string(),
        })?;
    if addrs.is_empty() {
        return Err(GuardError::NoAddresses(host.to_owned()));
    }
    let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
    judge(host, &ips, policy)?;
    Ok(addrs)
}

/// The addresses a delivery to `url` may connect to, checked now: the URL
/// rules of [`check_parsed`], then for a name [`resolve_host`]; an
/// IP-literal host is its own (already judged) address.
pub async fn resolve_checked(
    url: &Url,
    policy: &Policy,
    resolver: &dyn Resolver,
) -> Result<Vec<SocketAddr>, GuardError> {
    check_parsed(url, policy)?;
    let port = url.port_or_known_default().ok_or(GuardError::NoHost)?;
    match url.host() {
        Some(Host::Ipv4(v4)) => Ok(vec![SocketAddr::new(IpAddr::V4(v4), port)]),
        Some(Host::Ipv6(v6)) => Ok(vec![SocketAddr::new(IpAddr::V6(v6), port)]),
        Some(Host::Domain(name)) => resolve_host(name, port, policy, resolver).await,
        None => Err(GuardError::NoHost),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STRICT: Policy = Policy {
        allow_private: false,
    };
    const DEV: Policy = Policy {
        allow_private: true,
    };

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forbidden_ipv4() {
        for text in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "10.255.255.255",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "100.100.100.200",
            "192.0.0.8",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.88.99.1",
            "198.18.0.1",
            "198.19.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.254",
            "255.255.255.255",
        ] {
            assert!(is_forbidden(ip(text)), "{text} should be forbidden");
        }
    }

    #[test]
    fn public_ipv4() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "9.255.255.255",
            "11.0.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.167.255.255",
            "192.169.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.101.1",
            "203.0.114.1",
            "223.255.255.255",
        ] {
            assert_eq!(forbidden_reason(ip(text)), None, "{text} should be public");
        }
    }

    #[test]
    fn forbidden_ipv6() {
        for text in [
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd00:ec2::254",
            "ff02::1",
            "2001:db8::1",
            "3fff::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "64:ff9b:1::1",
            "100::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.1.2.3",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:a00:1:1234::1",
            "5f00::1",
            "4000::1",
        ] {
            assert!(is_forbidden(ip(text)), "{text} should be forbidden");
        }
    }

    #[test]
    fn public_ipv6() {
        for text in [
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2001:db7::1",
            "2001:4860:4860::8888",
            "3ffe::1",
        ] {
            assert_eq!(forbidden_reason(ip(text)), None, "{text} should be public");
        }
    }

    #[test]
    fn reasons_name_the_range() {
        assert!(
            forbidden_reason(ip("169.254.169.254"))
                .unwrap()
                .contains("metadata")
        );
        assert!(
            forbidden_reason(ip("127.0.0.1"))
                .unwrap()
                .contains("loopback")
        );
        let mapped = forbidden_reason(ip("::ffff:10.0.0.1")).unwrap();
        assert!(
            mapped.contains("IPv4-mapped") && mapped.contains("10.0.0.1"),
            "{mapped}"
        );
        let nat64 = forbidden_reason(ip("64:ff9b::7f00:1")).unwrap();
        assert!(
            nat64.contains("NAT64") && nat64.contains("127.0.0.1"),
            "{nat64}"
        );
        let six_to_four = forbidden_reason(ip("2002:c0a8:101::")).unwrap();
        assert!(six_to_four.contains("6to4") && six_to_four.contains("192.168.1.1"));
        assert!(forbidden_reason(ip("2001::1")).unwrap().contains("Teredo"));
    }

    #[test]
    fn check_url_accepts_public_https() {
        let url = check_url("https://hooks.example.com/in?x=1", &STRICT).unwrap();
        assert_eq!(url.host_str(), Some("hooks.example.com"));
        assert!(check_url("https://hooks.example.com:8443/", &STRICT).is_ok());
        assert!(check_url("https://8.8.8.8/", &STRICT).is_ok());
        assert!(check_url("https://[2606:4700:4700::1111]/", &STRICT).is_ok());
    }

    #[test]
    fn check_url_refuses_with_reasons() {
        assert_eq!(
            check_url("http://hooks.example.com/", &STRICT),
            Err(GuardError::Scheme("http".into()))
        );
        assert!(check_url("http://hooks.example.com/", &DEV).is_ok());
        for scheme in ["ftp", "file", "gopher", "ws"] {
            assert_eq!(
                check_url(&format!("{scheme}://hooks.example.com/x"), &DEV),
                Err(GuardError::Scheme(scheme.into()))
            );
        }
        assert_eq!(
            check_url("https://user:pw@hooks.example.com/", &STRICT),
            Err(GuardError::Credentials)
        );
        assert_eq!(
            check_url("https://user@hooks.example.com/", &DEV),
            Err(GuardError::Credentials)
        );
        for port in [0u16, 22, 25, 1023] {
            assert_eq!(
                check_url(&format!("https://hooks.example.com:{port}/"), &STRICT),
                Err(GuardError::Port(port))
            );
        }
        assert!(check_url("https://hooks.example.com:80/", &STRICT).is_ok());
        assert!(matches!(
            check_url("not a url", &STRICT),
            Err(GuardError::InvalidUrl(_))
        ));
        assert!(matches!(
            check_url("https://", &STRICT),
            Err(GuardError::InvalidUrl(_))
        ));
        let long = format!("https://hooks.example.com/{}", "a".repeat(2048));
        assert!(matches!(
            check_url(&long, &STRICT),
            Err(GuardError::TooLong(_))
        ));
    }

    #[test]
    fn ip_literal_hosts_are_judged_in_every_spelling() {
        for url in [
            "https://127.0.0.1/",
            "https://127.1/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0177.0.0.1/",
            "https://10.1.2.3/",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:a9fe:a9fe]/",
            "https://0.0.0.0/",
            "https://[fe80::1]/",
        ] {
            let err = check_url(url, &STRICT).unwrap_err();
            assert!(matches!(err, GuardError::Forbidden { .. }), "{url}: {err}");
            assert!(check_url(url, &DEV).is_ok(), "{url}");
        }
        let err = check_url("https://169.254.169.254/latest/meta-data", &STRICT).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("169.254.169.254") && text.contains("metadata"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn resolve_checked_refuses_any_forbidden_address() {
        let resolver = StaticResolver::new()
            .with("public.example", [ip("93.184.215.14"), ip("2606:4700::1")])
            .with("loop.example", [ip("127.0.0.1")])
            .with("private.example", [ip("10.0.0.1")])
            .with("metadata.example", [ip("169.254.169.254")])
            .with("v6loop.example", [ip("::1")])
            .with("mixed.example", [ip("93.184.215.14"), ip("192.168.0.10")])
            .with("empty.example", []);
        let url = |host: &str| Url::parse(&format!("https://{host}/hook")).unwrap();

        let addrs = resolve_checked(&url("public.example"), &STRICT, &resolver)
            .await
            .unwrap();
        assert_eq!(
            addrs,
            vec![
                SocketAddr::new(ip("93.184.215.14"), 443),
                SocketAddr::new(ip("2606:4700::1"), 443)
            ]
        );
        for (host, bad, why) in [
            ("loop.example", "127.0.0.1", "loopback"),
            ("private.example", "10.0.0.1", "private"),
            ("metadata.example", "169.254.169.254", "metadata"),
            ("v6loop.example", "::1", "loopback"),
            ("mixed.example", "192.168.0.10", "private"),
        ] {
            let err = resolve_checked(&url(host), &STRICT, &resolver)
                .await
                .unwrap_err();
            assert_eq!(
                err,
                GuardError::Forbidden {
                    host: host.into(),
                    refused: vec![(ip(bad), forbidden_reason(ip(bad)).unwrap())]
                }
            );
            let text = err.to_string();
            assert!(text.contains(bad) && text.contains(why), "{text}");
            // Allowed when private destinations are.
            assert!(resolve_checked(&url(host), &DEV, &resolver).await.is_ok());
        }
        assert_eq!(
            resolve_checked(&url("empty.example"), &DEV, &resolver).await,
            Err(GuardError::NoAddresses("empty.example".into()))
        );
        assert!(matches!(
            resolve_checked(&url("unknown.example"), &DEV, &resolver).await,
            Err(GuardError::Unresolved { .. })
        ));
    }

    #[tokio::test]
    async fn resolve_checked_looks_up_every_time_and_ip_literals_never() {
        let resolver = StaticResolver::new().with("public.example", [ip("93.184.215.14")]);
        let url = Url::parse("https://public.example:8443/").unwrap();
        for expected in 1..=3 {
            let addrs = resolve_checked(&url, &STRICT, &resolver).await.unwrap();
            assert_eq!(addrs, vec![SocketAddr::new(ip("93.184.215.14"), 8443)]);
            assert_eq!(resolver.lookups(), expected);
        }
        let literal = Url::parse("https://8.8.8.8/").unwrap();
        assert_eq!(
            resolve_checked(&literal, &STRICT, &resolver).await.unwrap(),
            vec![SocketAddr::new(ip("8.8.8.8"), 443)]
        );
        let forbidden = Url::parse("https://[::ffff:10.0.0.1]/").unwrap();
        assert!(
            resolve_checked(&forbidden, &STRICT, &resolver)
                .await
                .is_err()
        );
        let http = Url::parse("http://public.example/").unwrap();
        assert_eq!(
            resolve_checked(&http, &STRICT, &resolver).await,
            Err(GuardError::Scheme("http".into()))
        );
        assert_eq!(resolver.lookups(), 3);
    }

    #[tokio::test]
    async fn system_resolver_resolves_localhost_and_it_is_refused() {
        let url = Url::parse("https://localhost/").unwrap();
        let err = resolve_checked(&url, &STRICT, &SystemResolver)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, GuardError::Forbidden { host, .. } if host == "localhost"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn mapped_forms_agree_with_ipv4(bits in any::<u32>()) {
            let v4 = Ipv4Addr::from(bits);
            let expected = is_forbidden(IpAddr::V4(v4));
            prop_assert_eq!(is_forbidden(IpAddr::V6(v4.to_ipv6_mapped())), expected);
            let nat64 = Ipv6Addr::from((0x0064_ff9b_u128 << 96) | u128::from(bits));
            prop_assert_eq!(is_forbidden(IpAddr::V6(nat64)), expected);
            let six_to_four = Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(bits) << 80));
            prop_assert_eq!(is_forbidden(IpAddr::V6(six_to_four)), expected);
        }

        #[test]
        fn private_ranges_are_always_forbidden(host in any::<u32>()) {
            for (net, prefix) in [(0x0a00_0000_u32, 8), (0xac10_0000, 12), (0xc0a8_0000, 16), (0x7f00_0000, 8), (0xa9fe_0000, 16), (0x6440_0000, 10)] {
                let mask = u32::MAX >> prefix;
                let addr = Ipv4Addr::from(net | (host & mask));
                prop_assert!(is_forbidden(IpAddr::V4(addr)), "{}", addr);
            }
        }
    }
}
