use std::net::IpAddr;

/// The caller's IP address, put into request extensions by whoever knows it:
/// the local server from the TCP peer, the Lambda entry point from API
/// Gateway's request context. Absent, no per-IP limit applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);
