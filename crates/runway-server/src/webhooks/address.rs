//! Which addresses a webhook may be sent to.
//!
//! By default only `https` URLs whose host resolves to public addresses
//! only: never loopback, private, shared (CGNAT), link-local (cloud metadata
//! lives there: 169.254.169.254), unique-local, multicast, documentation or
//! unspecified addresses, in IPv4 or IPv6 (IPv4 inside IPv6 — mapped,
//! translated, 6to4 — is checked as IPv4). The check runs after DNS resolution, when an endpoint is saved and
//! again on every connection (the delivery client's resolver refuses such
//! addresses, so a name that later resolves elsewhere cannot reach them);
//! redirects are not followed. `--webhooks-allow-private` lifts it for
//! self-hosted and test setups, and allows plain `http`.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use url::Url;

/// Why a URL may not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("url must be an absolute http(s) URL: {0}")]
    Malformed(String),
    #[error("url must use https")]
    NotHttps,
    #[error("url must not carry a user name or password")]
    Credentials,
    #[error("url host {host} resolves to {address}, which is not a public address")]
    NotPublic { host: String, address: IpAddr },
    #[error("url host {0} does not resolve")]
    Unresolved(String),
}

/// True for an address anyone on the internet could also reach.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0                                   // "this network"
        || (a == 100 && (64..128).contains(&b))      // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0)            // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))        // benchmarking
        || (a == 192 && b == 88 && c == 99)          // 6to4 relay anycast (deprecated)
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, third, fourth, fifth, sixth, seventh, eighth] = ip.segments();
    if [first, second, third, fourth, fifth, sixth] == [0, 0, 0, 0, 0xffff, 0] {
        // IPv4-translated ::ffff:0:a.b.c.d (SIIT): the IPv4 address inside.
        let [a, b] = seventh.to_be_bytes();
        let [c, d] = eighth.to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    if first == 0x2002 {
        // 6to4: a relay carries it to the IPv4 address inside.
        let [a, b] = second.to_be_bytes();
        let [c, d] = third.to_be_bytes();
        return is_public_v4(Ipv4Addr::new(a, b, c, d));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xe000) != 0x2000 // outside global unicast 2000::/3: site-local fec0::/10, reserved
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first == 0x2001 && second < 0x0200) // IETF protocol assignments, Teredo among them
        || (first == 0x2001 && second == 0x0db8) // documentation
        || (first == 0x0064 && second == 0xff9b) // NAT64 (maps IPv4 inside)
        || (first == 0x0100 && second == 0 && third == 0 && fourth == 0) // discard-only 100::/64
        || ip.to_ipv4().is_some()) // IPv4-compatible ::a.b.c.d
}

/// The rules a server applies to webhook URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Allow plain `http` and non-public addresses.
    pub allow_private: bool,
}

impl UrlPolicy {
    /// Checks `url`'s form, then resolves its host and checks every address.
    pub async fn check(&self, url: &str) -> Result<Url, UrlRefusal> {
        // The URL is stored and shown as given: no control character in it
        // (a parser would drop some, and a NUL or CR LF is no URL), nor a
        // space (a parser would encode it: not the URL given).
        if url.chars().any(char::is_control) {
            return Err(UrlRefusal::Malformed(
                "control characters in the URL".into(),
            ));
        }
        if url.chars().any(char::is_whitespace) {
            return Err(UrlRefusal::Malformed("spaces in the URL".into()));
        }
        let parsed = Url::parse(url).map_err(|e| UrlRefusal::Malformed(e.to_string()))?;
        if parsed.port() == Some(0) {
            return Err(UrlRefusal::Malformed("port 0".into()));
        }
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            "http" => return Err(UrlRefusal::NotHttps),
            other => return Err(UrlRefusal::Malformed(format!("scheme {other:?}"))),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlRefusal::Credentials);
        }
        let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
            return Err(UrlRefusal::Malformed("no host".into()));
        };
        if self.allow_private {
            return Ok(parsed);
        }
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = parsed.port_or_known_default().unwrap_or(443);
        let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|_| UrlRefusal::Unresolved(host.clone()))?
                .collect(),
        };
        if addresses.is_empty() {
            return Err(UrlRefusal::Unresolved(host));
        }
        if let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
            return Err(UrlRefusal::NotPublic {
                host,
                address: bad.ip(),
            });
        }
        Ok(parsed)
    }

    /// Checks, without DNS, what a send must not do even if the endpoint
    /// was saved under other rules: a plain-http URL or a literal non-public
    /// address when private targets are not allowed. (Names are checked by
    /// [`UrlPolicy::resolver`] as they are resolved.)
    pub fn refuses_now(&self, url: &Url) -> Option<UrlRefusal> {
        if self.allow_private {
            return None;
        }
        if url.scheme() != "https" {
            return Some(UrlRefusal::NotHttps);
        }
        let address = match url.host()? {
            url::Host::Ipv4(v4) => IpAddr::V4(v4),
            url::Host::Ipv6(v6) => IpAddr::V6(v6),
            url::Host::Domain(_) => return None,
        };
        (!is_public(address)).then(|| UrlRefusal::NotPublic {
            host: address.to_string(),
            address,
        })
    }

    /// The resolver the delivery client connects through: it refuses names
    /// that resolve to any non-public address (unless private ones are allowed).
    pub fn resolver(&self) -> PublicOnly {
        PublicOnly {
            allow_private: self.allow_private,
        }
    }
}

/// A DNS resolver (a `tower::Service<Name>` for hyper's connector) that
/// answers only with public addresses, or refuses the name.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly {
    allow_private: bool,
}

type Resolving =
    Pin<Box<dyn Future<Output = Result<std::vec::IntoIter<SocketAddr>, std::io::Error>> + Send>>;

impl tower::Service<Name> for PublicOnly {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addresses: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allow_private && let Some(bad) = addresses.iter().find(|a| !is_public(a.ip())) {
                let refusal = UrlRefusal::NotPublic {
                    host,
                    address: bad.ip(),
                };
                return Err(std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    refusal,
                ));
            }
            Ok(addresses.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "2001:db8::1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
            "::ffff:0:7f00:1",
            "::ffff:0:a9fe:a9fe",
            "192.88.99.1",
            "fec0::1",
            "4000::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "::ffff:0:808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn urls_are_refused_by_form_and_by_address() {
        let strict = UrlPolicy {
            allow_private: false,
        };
        for (url, refusal) in [
            ("not a url", "absolute"),
            ("ftp://example.com/", "scheme"),
            ("http://example.com/hook", "https"),
            ("https://user:pw@example.com/", "user name"),
            ("https://127.0.0.1/hook", "not a public address"),
            ("https://[::1]:8443/hook", "not a public address"),
            (
                "https://169.254.169.254/latest/meta-data",
                "not a public address",
            ),
            ("https://localhost/hook", "not a public address"),
            ("https://1.1.1.1/ x", "spaces in the URL"),
        ] {
            let err = strict.check(url).await.unwrap_err().to_string();
            assert!(err.contains(refusal), "{url}: {err}");
        }
        let open = UrlPolicy {
            allow_private: true,
        };
        assert!(open.check("http://127.0.0.1:9/hook").await.is_ok());
        assert!(open.check("ftp://127.0.0.1/").await.is_err());
    }
}
