//! The DNS resolver reqwest calls when it opens a connection: the only place where the address
//! actually connected to is known, so the only place a changing DNS answer cannot slip past.

use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::address::AddressPolicy;

/// A destination refused by the address policy, or a name that did not resolve. One error for
/// both, so that a tenant cannot tell which internal names exist.
#[derive(Debug, thiserror::Error)]
#[error("destination address not allowed")]
pub(crate) struct DestinationRefused;

/// Resolves with `inner`, keeps only the addresses the policy allows, and fails when none remain.
pub(crate) struct GuardedResolver {
    inner: Arc<dyn Resolve>,
    policy: AddressPolicy,
}

impl GuardedResolver {
    pub(crate) fn new(inner: Arc<dyn Resolve>, policy: AddressPolicy) -> Self {
        Self { inner, policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        let lookup = self.inner.resolve(name);
        Box::pin(async move {
            let addrs = lookup.await.map_err(|_| DestinationRefused)?;
            let allowed: Vec<SocketAddr> = addrs.filter(|addr| policy.allows(addr.ip())).collect();
            if allowed.is_empty() {
                return Err(DestinationRefused.into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The operating system's resolver, through tokio (getaddrinfo on the blocking pool).
pub(crate) struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    struct Fixed(Vec<SocketAddr>);

    impl Resolve for Fixed {
        fn resolve(&self, _: Name) -> Resolving {
            let addrs = self.0.clone();
            Box::pin(async move { Ok(Box::new(addrs.into_iter()) as Addrs) })
        }
    }

    struct Failing;

    impl Resolve for Failing {
        fn resolve(&self, _: Name) -> Resolving {
            Box::pin(async { Err("NXDOMAIN for internal.example from 10.0.0.2".into()) })
        }
    }

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|s| s.parse().unwrap()).collect()
    }

    async fn resolve(inner: impl Resolve + 'static, policy: AddressPolicy) -> Result<Vec<SocketAddr>, String> {
        let guarded = GuardedResolver::new(Arc::new(inner), policy);
        match guarded.resolve(Name::from_str("receiver.test").unwrap()).await {
            Ok(addrs) => Ok(addrs.collect()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[tokio::test]
    async fn drops_non_public_answers_and_keeps_public_ones() {
        let answer = addrs(&["127.0.0.1:0", "93.184.216.34:0", "[::1]:0", "10.0.0.1:0", "[2606:4700::1]:0"]);
        let kept = resolve(Fixed(answer), AddressPolicy::PublicOnly).await.unwrap();
        assert_eq!(kept, addrs(&["93.184.216.34:0", "[2606:4700::1]:0"]));
    }

    #[tokio::test]
    async fn fails_when_no_public_answer_remains() {
        let answer = addrs(&["127.0.0.1:0", "169.254.169.254:0", "[::ffff:10.0.0.1]:0"]);
        let err = resolve(Fixed(answer), AddressPolicy::PublicOnly).await.unwrap_err();
        assert_eq!(err, "destination address not allowed");
    }

    #[tokio::test]
    async fn allow_private_keeps_loopback_but_not_metadata() {
        let answer = addrs(&["169.254.169.254:0", "127.0.0.1:0"]);
        let kept = resolve(Fixed(answer), AddressPolicy::AllowPrivate).await.unwrap();
        assert_eq!(kept, addrs(&["127.0.0.1:0"]));
    }

    #[tokio::test]
    async fn resolution_failure_reads_like_a_refusal_and_hides_the_cause() {
        let err = resolve(Failing, AddressPolicy::PublicOnly).await.unwrap_err();
        assert_eq!(err, "destination address not allowed");
    }

    #[tokio::test]
    async fn empty_answer_is_refused() {
        let err = resolve(Fixed(Vec::new()), AddressPolicy::AllowPrivate).await.unwrap_err();
        assert_eq!(err, "destination address not allowed");
    }
}
