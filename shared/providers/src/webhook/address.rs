//! Which IP addresses a webhook may reach. Pure classification, no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Which destination addresses a webhook may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressPolicy {
    /// Public unicast addresses only: the setting for every deployment.
    #[default]
    PublicOnly,
    /// Also loopback and private networks (RFC 1918, CGNAT, unique-local), for a local server whose
    /// receiver runs on the same machine or network. Link-local (where cloud metadata services
    /// live), unspecified, multicast, broadcast and reserved ranges stay refused: no receiver lives
    /// there.
    AllowPrivate,
}

impl AddressPolicy {
    /// Whether a webhook may connect to `ip`.
    pub fn allows(self, ip: IpAddr) -> bool {
        match classify(ip) {
            AddressClass::Public => true,
            AddressClass::Loopback | AddressClass::Private => self == AddressPolicy::AllowPrivate,
            AddressClass::LinkLocal
            | AddressClass::Unspecified
            | AddressClass::Multicast
            | AddressClass::Broadcast
            | AddressClass::Reserved => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AddressClass {
    Public,
    Loopback,
    /// RFC 1918, CGNAT (100.64.0.0/10), IPv6 unique-local and deprecated site-local.
    Private,
    /// 169.254.0.0/16 and fe80::/10, plus AWS's IPv6 metadata address.
    LinkLocal,
    Unspecified,
    Multicast,
    Broadcast,
    /// Documentation, benchmarking, protocol assignments, and anything not allocated for
    /// global unicast.
    Reserved,
}

pub(crate) fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// First match wins, so a narrow range precedes the wider one that contains it.
const V4_RANGES: &[(Ipv4Addr, u8, AddressClass)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 32, AddressClass::Unspecified),
    (Ipv4Addr::new(0, 0, 0, 0), 8, AddressClass::Reserved), // "this network"
    (Ipv4Addr::new(10, 0, 0, 0), 8, AddressClass::Private),
    (Ipv4Addr::new(100, 64, 0, 0), 10, AddressClass::Private), // CGNAT
    (Ipv4Addr::new(127, 0, 0, 0), 8, AddressClass::Loopback),
    (Ipv4Addr::new(169, 254, 0, 0), 16, AddressClass::LinkLocal), // includes 169.254.169.254
    (Ipv4Addr::new(172, 16, 0, 0), 12, AddressClass::Private),
    (Ipv4Addr::new(192, 0, 0, 0), 24, AddressClass::Reserved), // IETF protocol assignments
    (Ipv4Addr::new(192, 0, 2, 0), 24, AddressClass::Reserved), // TEST-NET-1
    (Ipv4Addr::new(192, 88, 99, 0), 24, AddressClass::Reserved), // former 6to4 relay anycast
    (Ipv4Addr::new(192, 168, 0, 0), 16, AddressClass::Private),
    (Ipv4Addr::new(198, 18, 0, 0), 15, AddressClass::Reserved), // benchmarking
    (Ipv4Addr::new(198, 51, 100, 0), 24, AddressClass::Reserved), // TEST-NET-2
    (Ipv4Addr::new(203, 0, 113, 0), 24, AddressClass::Reserved), // TEST-NET-3
    (Ipv4Addr::new(224, 0, 0, 0), 4, AddressClass::Multicast),
    (Ipv4Addr::new(255, 255, 255, 255), 32, AddressClass::Broadcast),
    (Ipv4Addr::new(240, 0, 0, 0), 4, AddressClass::Reserved),
];

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let bits = ip.to_bits();
    V4_RANGES
        .iter()
        .find(|(net, prefix, _)| bits & v4_mask(*prefix) == net.to_bits())
        .map_or(AddressClass::Public, |(_, _, class)| *class)
}

fn v4_mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// Checked after the forms that embed an IPv4 address; first match wins. Anything that falls
/// through and is outside 2000::/3 (the only block allocated for global unicast) is reserved.
const V6_RANGES: &[(Ipv6Addr, u8, AddressClass)] = &[
    (Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0), 48, AddressClass::Private), // local-use NAT64
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, AddressClass::Reserved), // documentation
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, AddressClass::Reserved),   // protocol assignments, Teredo
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20, AddressClass::Reserved),   // documentation
    (Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), 128, AddressClass::LinkLocal), // AWS metadata
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, AddressClass::Private),     // unique-local
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, AddressClass::LinkLocal),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, AddressClass::Private), // deprecated site-local
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, AddressClass::Multicast),
    (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3, AddressClass::Public),
];

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let bits = ip.to_bits();
    let in_net = |net: Ipv6Addr, prefix: u8| bits & v6_mask(prefix) == net.to_bits();
    // The low 32 bits, for the forms that carry an IPv4 address there.
    let low_v4 = Ipv4Addr::from_bits(bits as u32);
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    // ::ffff:a.b.c.d reaches a.b.c.d through a dual-stack socket.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // ::a.b.c.d (deprecated IPv4-compatible): never a public destination, but keep the embedded
    // address's class so that AllowPrivate treats ::127.0.0.1 like 127.0.0.1.
    if in_net(Ipv6Addr::UNSPECIFIED, 96) {
        return match classify_v4(low_v4) {
            AddressClass::Public => AddressClass::Reserved,
            class => class,
        };
    }
    // NAT64 (64:ff9b::/96) translates to the embedded IPv4 address.
    if in_net(Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96) {
        return classify_v4(low_v4);
    }
    // 6to4 (2002::/16) tunnels to the IPv4 address in bits 16..48.
    if in_net(Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16) {
        return classify_v4(Ipv4Addr::from_bits((bits >> 80) as u32));
    }
    V6_RANGES
        .iter()
        .find(|(net, prefix, _)| in_net(*net, *prefix))
        .map_or(AddressClass::Reserved, |(_, _, class)| *class)
}

fn v6_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use AddressClass::*;

    const TABLE: &[(&str, AddressClass)] = &[
        // IPv4
        ("93.184.216.34", Public),
        ("8.8.8.8", Public),
        ("1.1.1.1", Public),
        ("100.63.255.255", Public),
        ("100.128.0.0", Public),
        ("172.15.255.255", Public),
        ("172.32.0.0", Public),
        ("192.0.3.1", Public),
        ("223.255.255.255", Public),
        ("0.0.0.0", Unspecified),
        ("0.1.2.3", Reserved),
        ("127.0.0.1", Loopback),
        ("127.255.255.254", Loopback),
        ("10.0.0.1", Private),
        ("10.255.255.255", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("192.168.1.1", Private),
        ("100.64.0.1", Private),
        ("100.127.255.255", Private),
        ("169.254.169.254", LinkLocal),
        ("169.254.0.1", LinkLocal),
        ("192.0.0.8", Reserved),
        ("192.0.2.1", Reserved),
        ("198.51.100.7", Reserved),
        ("203.0.113.9", Reserved),
        ("198.18.0.1", Reserved),
        ("198.19.255.255", Reserved),
        ("192.88.99.1", Reserved),
        ("224.0.0.1", Multicast),
        ("239.255.255.250", Multicast),
        ("240.0.0.1", Reserved),
        ("255.255.255.254", Reserved),
        ("255.255.255.255", Broadcast),
        // IPv6
        ("2606:4700::1", Public),
        ("2a00:1450:4007:80e::200e", Public),
        ("2001:4860:4860::8888", Public),
        ("::", Unspecified),
        ("::1", Loopback),
        ("fe80::1", LinkLocal),
        ("febf::1", LinkLocal),
        ("fd00:ec2::254", LinkLocal),
        ("fc00::1", Private),
        ("fd12:3456::1", Private),
        ("fec0::1", Private),
        ("ff02::1", Multicast),
        ("ff0e::1", Multicast),
        ("2001:db8::1", Reserved),
        ("3fff::1", Reserved),
        ("2001::1", Reserved), // Teredo
        ("100::1", Reserved),  // discard-only
        ("4000::1", Reserved), // unallocated
        ("5f00::1", Reserved), // SRv6 SIDs
        ("64:ff9b:1::a00:1", Private),
        // IPv4-mapped
        ("::ffff:127.0.0.1", Loopback),
        ("::ffff:10.0.0.1", Private),
        ("::ffff:169.254.169.254", LinkLocal),
        ("::ffff:0.0.0.0", Unspecified),
        ("::ffff:93.184.216.34", Public),
        // IPv4-compatible (deprecated)
        ("::127.0.0.1", Loopback),
        ("::169.254.169.254", LinkLocal),
        ("::93.184.216.34", Reserved),
        // NAT64
        ("64:ff9b::127.0.0.1", Loopback),
        ("64:ff9b::10.1.2.3", Private),
        ("64:ff9b::169.254.169.254", LinkLocal),
        ("64:ff9b::93.184.216.34", Public),
        // 6to4
        ("2002:7f00:1::1", Loopback),
        ("2002:c0a8:101::1", Private),
        ("2002:a9fe:a9fe::1", LinkLocal),
        ("2002:5db8:d822::1", Public),
    ];

    #[test]
    fn classifies_each_special_range() {
        for (text, expected) in TABLE {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), *expected, "{text}");
        }
    }

    #[test]
    fn public_only_allows_only_public_addresses() {
        for (text, class) in TABLE {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(AddressPolicy::PublicOnly.allows(ip), *class == Public, "{text}");
        }
    }

    #[test]
    fn allow_private_adds_loopback_and_private_but_never_link_local_or_reserved() {
        for (text, class) in TABLE {
            let ip: IpAddr = text.parse().unwrap();
            let expected = matches!(class, Public | Loopback | Private);
            assert_eq!(AddressPolicy::AllowPrivate.allows(ip), expected, "{text}");
        }
    }

    #[test]
    fn default_policy_is_public_only() {
        assert_eq!(AddressPolicy::default(), AddressPolicy::PublicOnly);
    }
}
