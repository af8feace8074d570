//! The webhook poster against real loopback receivers: what it refuses to reach, what it
//! delivers when a local server opts in, and what a hostile receiver cannot make it do.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use secure2fa_core::ports::WebhookPoster;
use secure2fa_providers::{AddressPolicy, HttpWebhookPoster};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const REFUSED: &str = "destination address not allowed";
/// Every message `post` may return.
const FIXED_ERRORS: &[&str] =
    &["invalid webhook url", "destination address not allowed", "timed out", "connection failed", "request failed"];

fn poster(policy: AddressPolicy) -> HttpWebhookPoster {
    HttpWebhookPoster::new(policy, HttpWebhookPoster::DEFAULT_TIMEOUT).unwrap()
}

fn poster_with(policy: AddressPolicy, timeout: Duration, resolver: impl Resolve + 'static) -> HttpWebhookPoster {
    HttpWebhookPoster::with_resolver(policy, timeout, Arc::new(resolver)).unwrap()
}

async fn send(poster: &HttpWebhookPoster, url: &str) -> Result<u16, String> {
    poster.post(url, &[("Content-Type", "application/json".to_string())], br#"{"event":"test"}"#).await
}

/// Asserts a post error is one of the fixed messages and carries nothing about the receiver.
fn assert_opaque(err: &str, secrets: &[&str]) {
    assert!(FIXED_ERRORS.contains(&err), "unexpected error text: {err}");
    for secret in secrets {
        assert!(!err.contains(secret), "error {err:?} reveals {secret:?}");
    }
}

/// A listening socket that never accepts: whether a connection reached it can be read without
/// waiting, because the kernel queues a connection before the client's connect returns.
struct Trap(std::net::TcpListener);

impl Trap {
    fn bind(addr: &str) -> Option<Self> {
        let listener = std::net::TcpListener::bind(addr).ok()?;
        listener.set_nonblocking(true).unwrap();
        Some(Self(listener))
    }

    fn port(&self) -> u16 {
        self.0.local_addr().unwrap().port()
    }

    fn was_connected(&self) -> bool {
        match self.0.accept() {
            Ok(_) => true,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(e) => panic!("trap accept failed: {e}"),
        }
    }
}

/// Answers every name with `addrs`, counting the lookups.
struct FixedResolver {
    addrs: Vec<SocketAddr>,
    lookups: Arc<AtomicUsize>,
}

impl FixedResolver {
    fn new(addrs: &[&str]) -> Self {
        Self { addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(), lookups: Arc::default() }
    }
}

impl Resolve for FixedResolver {
    fn resolve(&self, _: Name) -> Resolving {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let addrs = self.addrs.clone();
        Box::pin(async move { Ok(Box::new(addrs.into_iter()) as Addrs) })
    }
}

/// A lookup that fails with a message worth hiding, like an internal resolver's NXDOMAIN.
struct FailingResolver;

impl Resolve for FailingResolver {
    fn resolve(&self, _: Name) -> Resolving {
        Box::pin(async { Err("secret: no such host db.internal at 10.1.2.3".into()) })
    }
}

/// DNS rebinding: a public answer first, loopback ever after.
struct RebindingResolver {
    lookups: Arc<AtomicUsize>,
}

impl Resolve for RebindingResolver {
    fn resolve(&self, _: Name) -> Resolving {
        let addr: SocketAddr = match self.lookups.fetch_add(1, Ordering::SeqCst) {
            0 => "93.184.216.34:0".parse().unwrap(),
            _ => "127.0.0.1:0".parse().unwrap(),
        };
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as Addrs) })
    }
}

#[derive(Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// An axum receiver on loopback that records each POST to /hook and answers `status`.
async fn spawn_receiver(status: StatusCode) -> (SocketAddr, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                tx.send(Received { headers, body }).unwrap();
                status
            }
        }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, rx)
}

/// A raw receiver on loopback that reads one request head, then hands the stream to `respond`.
async fn spawn_raw_receiver<F, Fut, T>(respond: F) -> (u16, tokio::task::JoinHandle<T>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "client closed before sending a request");
            head.extend_from_slice(&buf[..n]);
        }
        respond(stream).await
    });
    (port, task)
}

/// Reads until the client closes the connection.
async fn wait_for_close(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
}

#[tokio::test]
async fn public_only_refuses_loopback_literal_without_connecting() {
    let trap = Trap::bind("127.0.0.1:0").unwrap();
    let result = send(&poster(AddressPolicy::PublicOnly), &format!("http://127.0.0.1:{}/", trap.port())).await;
    assert_eq!(result, Err(REFUSED.to_string()));
    assert!(!trap.was_connected());
}

#[tokio::test]
async fn public_only_refuses_localhost_without_connecting() {
    let trap = Trap::bind("127.0.0.1:0").unwrap();
    let result = send(&poster(AddressPolicy::PublicOnly), &format!("http://localhost:{}/hook", trap.port())).await;
    assert_eq!(result, Err(REFUSED.to_string()));
    assert!(!trap.was_connected());
}

#[tokio::test]
async fn public_only_refuses_ipv6_loopback_without_connecting() {
    // Hosts without IPv6 still get the refusal checked, on a port nothing listens on.
    let trap = Trap::bind("[::1]:0");
    let port = trap.as_ref().map_or(9, Trap::port);
    let result = send(&poster(AddressPolicy::PublicOnly), &format!("http://[::1]:{port}/")).await;
    assert_eq!(result, Err(REFUSED.to_string()));
    assert!(!trap.is_some_and(|t| t.was_connected()));
}

#[tokio::test]
async fn public_only_refuses_metadata_unspecified_and_disguised_loopback() {
    let trap = Trap::bind("127.0.0.1:0").unwrap();
    let port = trap.port();
    let poster = poster(AddressPolicy::PublicOnly);
    for url in [
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fd00:ec2::254]/latest/meta-data/".to_string(),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::127.0.0.1]:{port}/"),
        format!("http://[64:ff9b::127.0.0.1]:{port}/"),
        format!("http://[2002:7f00:1::1]:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.1:{port}/"),
        format!("http://0177.0.0.1:{port}/"),
        format!("https://127.0.0.1:{port}/"),
        "http://10.0.0.1/".to_string(),
        "http://192.168.1.1/".to_string(),
        "http://100.64.0.1/".to_string(),
        "http://[fe80::1]/".to_string(),
        "http://[fc00::1]/".to_string(),
        "http://224.0.0.1/".to_string(),
        "http://255.255.255.255/".to_string(),
        "http://192.0.2.1/".to_string(),
    ] {
        assert_eq!(send(&poster, &url).await, Err(REFUSED.to_string()), "{url}");
    }
    assert!(!trap.was_connected());
}

#[tokio::test]
async fn public_only_refuses_a_name_resolving_only_to_private_addresses() {
    let trap = Trap::bind("127.0.0.1:0").unwrap();
    let resolver = FixedResolver::new(&["10.0.0.1:0", "127.0.0.1:0", "169.254.169.254:0", "[::1]:0"]);
    let poster = poster_with(AddressPolicy::PublicOnly, HttpWebhookPoster::DEFAULT_TIMEOUT, resolver);
    let result = send(&poster, &format!("http://internal.test:{}/", trap.port())).await;
    assert_eq!(result, Err(REFUSED.to_string()));
    assert!(!trap.was_connected());
}

#[tokio::test]
async fn dns_rebinding_between_check_and_connect_is_refused() {
    let trap = Trap::bind("127.0.0.1:0").unwrap();
    let lookups = Arc::new(AtomicUsize::new(0));
    let resolver = RebindingResolver { lookups: lookups.clone() };
    let poster = poster_with(AddressPolicy::PublicOnly, HttpWebhookPoster::DEFAULT_TIMEOUT, resolver);
    let result = send(&poster, &format!("http://rebind.test:{}/", trap.port())).await;
    assert_eq!(result, Err(REFUSED.to_string()));
    // The check saw the public answer; the connect saw loopback and was refused.
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
    assert!(!trap.was_connected());
}

#[tokio::test]
async fn allow_private_delivers_headers_and_body_to_a_loopback_receiver() {
    let (addr, mut received) = spawn_receiver(StatusCode::ACCEPTED).await;
    let poster = poster(AddressPolicy::AllowPrivate);
    let headers = [
        ("Secure2FA-Signature", "t=1,v1=abc".to_string()),
        ("Secure2FA-Event-Id", "evt_1".to_string()),
        ("Content-Type", "application/json".to_string()),
    ];
    let status = poster.post(&format!("http://{addr}/hook"), &headers, br#"{"type":"verification.succeeded"}"#).await;
    assert_eq!(status, Ok(202));
    let got = received.recv().await.unwrap();
    assert_eq!(got.headers["secure2fa-signature"], "t=1,v1=abc");
    assert_eq!(got.headers["secure2fa-event-id"], "evt_1");
    assert_eq!(got.headers[header::CONTENT_TYPE], "application/json");
    assert!(got.headers[header::USER_AGENT].to_str().unwrap().starts_with("Secure2FA-Webhooks/"));
    assert_eq!(&got.body[..], br#"{"type":"verification.succeeded"}"#);
}

#[tokio::test]
async fn allow_private_connects_a_resolved_name_to_loopback() {
    let (addr, mut received) = spawn_receiver(StatusCode::NO_CONTENT).await;
    let resolver = FixedResolver::new(&["127.0.0.1:0"]);
    let poster = poster_with(AddressPolicy::AllowPrivate, HttpWebhookPoster::DEFAULT_TIMEOUT, resolver);
    let status = send(&poster, &format!("http://receiver.test:{}/hook", addr.port())).await;
    assert_eq!(status, Ok(204));
    assert_eq!(&received.recv().await.unwrap().body[..], br#"{"event":"test"}"#);
}

#[tokio::test]
async fn allow_private_still_refuses_link_local_metadata() {
    let poster = poster(AddressPolicy::AllowPrivate);
    for url in ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://0.0.0.0/"] {
        assert_eq!(send(&poster, url).await, Err(REFUSED.to_string()), "{url}");
    }
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let trap = Trap::bind("127.0.0.1:0").unwrap();
    let location = format!("http://127.0.0.1:{}/", trap.port());
    let app =
        Router::new().route("/hook", post(move || async move { (StatusCode::FOUND, [(header::LOCATION, location)]) }));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let status = send(&poster(AddressPolicy::AllowPrivate), &format!("http://{addr}/hook")).await;
    assert_eq!(status, Ok(302));
    assert!(!trap.was_connected());
}

#[tokio::test]
async fn a_huge_response_body_is_not_read() {
    const ANNOUNCED: u64 = 1 << 30;
    let (port, receiver) = spawn_raw_receiver(|mut stream| async move {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {ANNOUNCED}\r\n\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        // Writes until the client hangs up; the socket buffers hold what it never reads.
        let chunk = vec![b'x'; 64 * 1024];
        let mut written = 0u64;
        while written < ANNOUNCED && stream.write_all(&chunk).await.is_ok() {
            written += chunk.len() as u64;
        }
        written
    })
    .await;
    let poster = poster(AddressPolicy::AllowPrivate);
    let status = send(&poster, &format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(status, Ok(200));
    let written = tokio::time::timeout(Duration::from_secs(10), receiver)
        .await
        .expect("the poster kept the connection open after taking the status")
        .unwrap();
    assert!(written < 32 << 20, "the receiver pushed {written} bytes");
}

#[tokio::test]
async fn a_slow_response_body_does_not_delay_the_status() {
    let (port, receiver) = spawn_raw_receiver(|mut stream| async move {
        stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nslow").await.unwrap();
        wait_for_close(stream).await;
    })
    .await;
    // Waiting for the body would take the whole timeout.
    let timeout = Duration::from_secs(5);
    let poster = poster_with(AddressPolicy::AllowPrivate, timeout, FixedResolver::new(&[]));
    let started = Instant::now();
    let status = send(&poster, &format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(status, Ok(200));
    assert!(started.elapsed() < timeout);
    tokio::time::timeout(Duration::from_secs(10), receiver).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_silent_receiver_times_out_within_the_configured_total() {
    let (port, _receiver) = spawn_raw_receiver(wait_for_close).await;
    let poster = poster_with(AddressPolicy::AllowPrivate, Duration::from_millis(300), FixedResolver::new(&[]));
    let started = Instant::now();
    let result = tokio::time::timeout(Duration::from_secs(10), send(&poster, &format!("http://127.0.0.1:{port}/")))
        .await
        .expect("the post outlived its timeout");
    assert_eq!(result, Err("timed out".to_string()));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_slow_resolver_is_bounded_by_the_total_timeout() {
    struct Stalling;
    impl Resolve for Stalling {
        fn resolve(&self, _: Name) -> Resolving {
            Box::pin(std::future::pending())
        }
    }
    let poster = poster_with(AddressPolicy::PublicOnly, Duration::from_millis(300), Stalling);
    let result = tokio::time::timeout(Duration::from_secs(10), send(&poster, "http://stall.test/"))
        .await
        .expect("the post outlived its timeout");
    assert_eq!(result, Err("timed out".to_string()));
}

#[tokio::test]
async fn an_error_status_returns_only_the_code() {
    let (port, _receiver) = spawn_raw_receiver(|mut stream| async move {
        let body = "secret-body: internal admin panel";
        let response = format!("HTTP/1.1 500 Secret Reason Text\r\nContent-Length: {}\r\n\r\n{body}", body.len());
        stream.write_all(response.as_bytes()).await.unwrap();
        wait_for_close(stream).await;
    })
    .await;
    let status = send(&poster(AddressPolicy::AllowPrivate), &format!("http://127.0.0.1:{port}/")).await;
    assert_eq!(status, Ok(500));
}

#[tokio::test]
async fn errors_reveal_no_status_text_body_or_address() {
    // A receiver that answers something that is not HTTP, full of things worth hiding.
    let (garbage_port, _receiver) = spawn_raw_receiver(|mut stream| async move {
        stream.write_all(b"SSH-2.0-OpenSSH_9.6 secret-banner 10.1.2.3\r\n\r\n").await.unwrap();
        wait_for_close(stream).await;
    })
    .await;
    // A port nothing listens on.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (silent_port, _silent) = spawn_raw_receiver(wait_for_close).await;

    let private = poster(AddressPolicy::AllowPrivate);
    let public = poster(AddressPolicy::PublicOnly);
    let short = poster_with(AddressPolicy::AllowPrivate, Duration::from_millis(200), FixedResolver::new(&[]));
    let rebinding = poster_with(
        AddressPolicy::PublicOnly,
        HttpWebhookPoster::DEFAULT_TIMEOUT,
        RebindingResolver { lookups: Arc::default() },
    );
    let unresolvable = poster_with(AddressPolicy::PublicOnly, HttpWebhookPoster::DEFAULT_TIMEOUT, FailingResolver);
    let cases = [
        (&private, format!("http://127.0.0.1:{garbage_port}/"), "request failed"),
        (&private, format!("http://127.0.0.1:{closed_port}/"), "connection failed"),
        (&short, format!("http://127.0.0.1:{silent_port}/"), "timed out"),
        (&public, format!("http://127.0.0.1:{closed_port}/"), REFUSED),
        (&public, "http://169.254.169.254/latest/meta-data/iam".to_string(), REFUSED),
        (&unresolvable, "http://db.internal/".to_string(), REFUSED),
        (&rebinding, format!("http://rebind.test:{closed_port}/"), REFUSED),
        (&public, "ftp://93.184.216.34/".to_string(), "invalid webhook url"),
        (&public, "file:///etc/passwd".to_string(), "invalid webhook url"),
        (&public, "not a url".to_string(), "invalid webhook url"),
    ];
    let ports = [garbage_port, closed_port, silent_port].map(|p| p.to_string());
    for (poster, url, expected) in cases {
        let err = send(poster, &url).await.unwrap_err();
        assert_eq!(err, expected, "{url}");
        let mut secrets = vec!["secret", "SSH", "10.1.2.3", "127.0.0.1", "169.254", "93.184", "::1", "dns", "error"];
        secrets.extend(ports.iter().map(String::as_str));
        assert_opaque(&err, &secrets);
    }
}
