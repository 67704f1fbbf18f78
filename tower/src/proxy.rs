//! The client's address behind reverse proxies, believing only the proxies it is told to.

use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;
use ipnet::IpNet;

use crate::key::{KeyError, KeyExtractor, RequestHead, ip_key, no_peer};

/// The client's IP address (an IPv6 client by its /64), read through the proxies in front of
/// the service: `Forwarded` (RFC 7239) or `X-Forwarded-For` is believed only when the peer is
/// one of the trusted networks, and then read from the right, skipping every trusted hop; the
/// first untrusted address is the client. With no trusted networks this is the peer's address,
/// which is what a client that forges the fields gets too. nginx's `real_ip_recursive` and
/// Envoy's `xff_num_trusted_hops` work the same way.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

/// A network that is not an address or a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNetwork(pub String);

impl std::fmt::Display for BadNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} is neither an IP address nor a CIDR network",
            self.0
        )
    }
}

impl std::error::Error for BadNetwork {}

impl TrustedProxies {
    /// Trusts the given networks.
    #[must_use]
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        TrustedProxies {
            networks: networks.into_iter().collect(),
        }
    }

    /// Trusts the networks of a comma-separated list of CIDRs or single addresses
    /// (`10.0.0.0/8, 192.0.2.7, fd00::/8`), as an environment variable gives them.
    ///
    /// # Errors
    /// [`BadNetwork`] naming the first item that is neither.
    pub fn parse(list: &str) -> Result<Self, BadNetwork> {
        let networks = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                IpNet::from_str(item)
                    .or_else(|_| IpAddr::from_str(item).map(IpNet::from))
                    .map_err(|_| BadNetwork(item.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks })
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from `peer` with these header fields.
    #[must_use]
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return canonical(peer);
        }
        // `Forwarded` when present (it is the standard), else `X-Forwarded-For`; each hop is
        // appended on the right, so the nearest is last.
        let hops = forwarded(headers).unwrap_or_else(|| x_forwarded_for(headers));
        let mut client = canonical(peer);
        for hop in hops.into_iter().rev() {
            let Some(hop) = hop else {
                // An obfuscated or unparseable hop: nothing further left can be believed.
                return client;
            };
            client = canonical(hop);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

impl KeyExtractor for TrustedProxies {
    fn extract(&self, request: &RequestHead<'_>) -> Result<String, KeyError> {
        let peer = request.peer().ok_or_else(no_peer)?;
        Ok(ip_key(self.client(peer.ip(), request.headers)))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` of every `Forwarded` element, in order; `None` for one that is not an address.
fn forwarded(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        let value = value.to_str().ok()?;
        for element in value.split(',') {
            let Some(node) = element.split(';').find_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                name.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| value.trim())
            }) else {
                continue;
            };
            hops.push(node_ip(node));
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// The address of a `Forwarded` node: `192.0.2.60`, `"192.0.2.60:4711"`, `"[2001:db8::1]:80"`.
fn node_ip(node: &str) -> Option<IpAddr> {
    let node = node.trim_matches('"');
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let host = match node.split_once(':') {
        Some((host, _port)) => host,
        None => node,
    };
    host.parse().ok()
}

/// Every address of every `X-Forwarded-For` field, in order.
fn x_forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.to_str().unwrap_or("?").split(','))
        .map(|hop| hop.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_fields_are_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").unwrap();
        let xff = headers(&[("x-forwarded-for", "203.0.113.9, 10.1.2.3")]);
        // From a trusted proxy: skip the trusted hops from the right.
        assert_eq!(proxies.client(ip("192.0.2.7"), &xff), ip("203.0.113.9"));
        // From anyone else: the peer, whatever it claims.
        assert_eq!(proxies.client(ip("198.51.100.1"), &xff), ip("198.51.100.1"));
        // A client that forges a left-hand hop does not escape: the first untrusted from the
        // right is what the trusted proxy saw.
        let forged = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.9")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &forged), ip("203.0.113.9"));
        // Several fields are one list.
        let split = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("x-forwarded-for", "10.9.9.9"),
        ]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &split), ip("203.0.113.9"));
        // Nothing to believe: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        // A garbled hop stops the walk at the last address believed.
        let garbled = headers(&[("x-forwarded-for", "203.0.113.9, nonsense, 10.1.1.1")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &garbled), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_is_read_in_its_forms_and_preferred() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let both = headers(&[
            (
                "forwarded",
                r#"for="[2001:db8:cafe:1::17]:4711";proto=https, for=10.2.2.2"#,
            ),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(
            proxies.client(ip("10.0.0.1"), &both),
            ip("2001:db8:cafe:1::17")
        );
        let hidden = headers(&[("forwarded", "for=_hidden, for=10.2.2.2")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &hidden), ip("10.2.2.2"));
        let port = headers(&[("forwarded", r#"For="192.0.2.43:47011""#)]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &port), ip("192.0.2.43"));
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_addresses_as_ipv4() {
        assert_eq!(ip_key(ip("2001:db8:cafe:1::17")), "2001:db8:cafe:1::/64");
        assert_eq!(
            ip_key(ip("2001:db8:cafe:1:ffff::1")),
            "2001:db8:cafe:1::/64"
        );
        assert_eq!(ip_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        let proxies = TrustedProxies::parse("192.0.2.0/24").unwrap();
        assert_eq!(
            proxies.client(ip("::ffff:192.0.2.5"), &HeaderMap::new()),
            ip("192.0.2.5")
        );
        assert!(proxies.trusts(ip("::ffff:192.0.2.5")));
    }

    #[test]
    fn bad_networks_are_named() {
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8, ten").unwrap_err(),
            BadNetwork("ten".into())
        );
        assert_eq!(TrustedProxies::parse(" , ").unwrap().networks, vec![]);
    }
}
