//! Where webhooks may go: public addresses only, unless an operator lists a
//! private network (`CASEDESK_WEBHOOK_PRIVATE_NETWORKS`). A callback URL
//! naming a loopback, private, link-local, shared, documentation, multicast
//! or reserved address is refused when the subscription is made, in whatever
//! form the address is written (`2130706433`, `0177.0.0.1`, `0x7f.0.0.1`,
//! `[::1]`, `[::ffff:7f00:1]`, ...: the URL parser reads them all as the
//! address they are), and so are `localhost` names. A name is checked again
//! on every delivery, on the addresses it resolves to then, so a name that
//! later resolves to an internal address (DNS rebinding) reaches nothing.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
};

use ipnet::IpNet;

/// Whether an IPv4 address is one the internet routes to someone else.
fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// Whether an IPv6 address is one the internet routes to someone else;
/// IPv6 forms that carry an IPv4 address are judged by that address.
fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) embed an IPv4 address
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return public_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    if s[0] == 0x2002 {
        return public_v4(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    // only global unicast (2000::/3), less its special blocks
    (s[0] & 0xe000) == 0x2000
        && !(s[0] == 0x2001 && s[1] < 0x0200) // Teredo, benchmarking, ORCHID, ...
        && !(s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        && !(s[0] == 0x3fff && s[1] < 0x1000) // documentation (RFC 9637)
}

pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

/// Whether deliveries may reach `ip`: public, or in a listed private network.
pub(crate) fn allowed(ip: IpAddr, private_networks: &[IpNet]) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    is_public(ip) || private_networks.iter().any(|n| n.contains(&ip))
}

/// Names that always mean this machine.
pub(crate) fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    host == "localhost" || host.ends_with(".localhost")
}

/// The delivery client's resolver: the system's, less every address
/// deliveries may not reach. A name left with none fails to resolve.
pub(crate) struct GuardedResolver {
    pub private_networks: Arc<Vec<IpNet>>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let nets = self.private_networks.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            if is_local_name(&host) {
                return Err(Box::from(NotAllowed) as Box<dyn std::error::Error + Send + Sync>);
            }
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed(a.ip(), &nets))
                .collect();
            if found.is_empty() {
                return Err(Box::from(NotAllowed) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The receiver's name resolves to no address deliveries may reach.
#[derive(Debug, thiserror::Error)]
#[error("the receiver's address is not public")]
pub(crate) struct NotAllowed;

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_in_every_form_are_not_public() {
        for text in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "192.0.0.8",
            "192.0.2.1",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:7f00:1",
            "::ffff:a9fe:a9fe",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
        ] {
            assert!(!is_public(ip(text)), "{text} is not public");
        }
        for text in [
            "93.184.216.34",
            "8.8.8.8",
            "2a00:1450:4001::1",
            "2002:5db8:d822::",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(ip(text)), "{text} is public");
        }
        let nets: Vec<IpNet> = vec!["10.1.0.0/16".parse().unwrap()];
        assert!(allowed(ip("10.1.2.3"), &nets));
        assert!(allowed(ip("::ffff:10.1.2.3"), &nets));
        assert!(!allowed(ip("10.2.0.1"), &nets));
        assert!(is_local_name("LOCALHOST."));
        assert!(is_local_name("api.localhost"));
        assert!(!is_local_name("localhost.example.org"));
    }
}
