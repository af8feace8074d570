//! `secure2fa serve [--data-dir DIR] [--addr 127.0.0.1:3000]`: the whole
//! service on one machine.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use secure2fa::{LocalApp, LocalConfig, check_listen_address};
use secure2fa_core::clock::SystemClock;
use secure2fa_providers::ProviderEndpoints;

#[derive(Parser)]
#[command(name = "secure2fa", version, about = "Self-hosted OTP verification service")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service locally: SQLite store, master key file, outbox delivery.
    Serve {
        #[arg(long, env = "SECURE2FA_DATA_DIR", default_value = "./.secure2fa")]
        data_dir: PathBuf,
        #[arg(long, env = "SECURE2FA_ADDR", default_value = "127.0.0.1:3000")]
        addr: SocketAddr,
        /// Requests per minute per client IP on the OTP API (0 disables).
        #[arg(long, env = "SECURE2FA_IP_LIMIT_PER_MINUTE", default_value_t = 1200)]
        ip_limit_per_minute: u32,
        /// Background jobs (deliveries, webhooks) run at once at most.
        #[arg(long, env = "SECURE2FA_WORKERS", default_value_t = 16)]
        workers: usize,
        /// Let webhooks reach loopback and private network addresses
        /// (a receiver on this machine). Refused by default.
        #[arg(long, env = "SECURE2FA_ALLOW_PRIVATE_WEBHOOKS")]
        allow_private_webhooks: bool,
        /// Allow a non-loopback --addr (serve other hosts); /dev/* then
        /// requires the operator token.
        #[arg(long, env = "SECURE2FA_PUBLIC")]
        public: bool,
        /// The https URL providers reach this server at (a tunnel or proxy
        /// in front of it), for delivery receipts; none by default.
        #[arg(long, env = "SECURE2FA_PUBLIC_URL")]
        public_url: Option<String>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let Command::Serve { data_dir, addr, ip_limit_per_minute, workers, allow_private_webhooks, public, public_url } =
        Cli::parse().command;
    check_listen_address(addr, public)?;
    // `SECURE2FA_TWILIO_API_URL` and the like: private endpoints, mocks.
    let provider_endpoints = ProviderEndpoints::from_lookup(|k| std::env::var(format!("SECURE2FA_{k}")).ok())
        .context("invalid provider endpoint")?;
    let mut config = LocalConfig {
        ip_limit_per_minute: NonZeroU32::new(ip_limit_per_minute),
        workers,
        allow_private_webhooks,
        public,
        provider_endpoints,
        ..LocalConfig::new(data_dir)
    };
    secure2fa_local::files::prepare_data_dir(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    // Held until the process ends.
    let _lock = secure2fa_local::files::lock_data_dir(&config.data_dir)
        .with_context(|| format!("cannot lock data directory {}", config.data_dir.display()))?
        .with_context(|| format!("another secure2fa process is serving {}", config.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let base_url = format!("http://{}", listener.local_addr()?);
    config.base_url = Some(base_url.clone());
    config.public_url = public_url
        .map(|u| secure2fa_core::providers::public_url(&u))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--public-url: {e}"))?;
    let app = LocalApp::open(config.clone(), Arc::new(SystemClock))?;
    let creds = app.ensure_demo_project(&base_url).await?;
    // Keys and tokens stay in the 0600 file: standard output often ends up
    // in logs, which must never hold a secret.
    println!("Secure-2FA listening on {base_url}");
    println!("Demo project {} (public key {})", creds.project_id, creds.public_key);
    println!("Keys and operator token: {}", config.data_dir.join("dev-credentials.json").display());
    println!("Outbox: {}", creds.outbox_url);
    app.serve(listener, shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
