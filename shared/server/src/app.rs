use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use secure2fa_core::accounts::{Accounts, SystemMailer};
use secure2fa_core::clock::Clock;
use secure2fa_core::crypto::DataKeyCache;
use secure2fa_core::manage::Management;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::otp::{OtpService, Receipts, Worker};
use secure2fa_core::ports::MessageSender;
use secure2fa_core::quota::InProcessQuotas;
use secure2fa_core::secrets::OperatorToken;
use secure2fa_core::services::{ServiceConfig, Services};
use secure2fa_http::{ClientIp, IpRateLimit};
use secure2fa_local::{Db, LocalJobQueue, LocalKeyVault, Outbox, SqliteStore, files};
use secure2fa_providers::{
    AddressPolicy, HttpWebhookPoster, ProviderEndpoints, ProviderReceiptReader, ProviderRegistry, ProvidersConfig,
    SmtpOptions,
};
use tokio::net::TcpListener;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::dev_routes;
use crate::workers::spawn_workers;

/// How often the server deletes expired log entries and send counters.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub data_dir: PathBuf,
    /// Requests per minute per client IP on the OTP API; `None` disables.
    pub ip_limit_per_minute: Option<NonZeroU32>,
    /// Background jobs (deliveries, webhooks) run at once at most.
    pub workers: usize,
    /// Deliveries of a job before it is dead-lettered (SQS maxReceiveCount).
    pub max_job_attempts: u32,
    /// Let webhooks reach loopback and private addresses (a receiver on
    /// this machine or network). Off unless asked for.
    pub allow_private_webhooks: bool,
    /// Serve other hosts than this one (`--public`): required to listen on
    /// a non-loopback address, and then `/dev/*` needs the operator token.
    pub public: bool,
    /// Base URLs of the HTTP email and SMS providers (the real ones unless
    /// `SECURE2FA_TWILIO_API_URL` and the like say otherwise).
    pub provider_endpoints: ProviderEndpoints,
    /// The URL the providers reach this server at, for delivery receipts
    /// (`--public-url`); `None`: Twilio and Plivo get no status callback.
    pub public_url: Option<String>,
    /// This server's URL as quoted in account mails (sign-up, reset).
    pub base_url: Option<String>,
}

impl LocalConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ip_limit_per_minute: NonZeroU32::new(1200),
            workers: 16,
            max_job_attempts: 5,
            allow_private_webhooks: false,
            public: false,
            provider_endpoints: ProviderEndpoints::default(),
            public_url: None,
            base_url: None,
        }
    }
}

/// The whole service over embedded adapters.
#[derive(Clone)]
pub struct LocalApp {
    pub config: LocalConfig,
    pub store: Arc<SqliteStore>,
    pub queue: LocalJobQueue,
    pub outbox: Outbox,
    pub keys: Arc<DataKeyCache>,
    pub otp: OtpService,
    pub worker: Worker,
    pub manage: Management,
    pub accounts: Accounts,
    pub receipts: Receipts,
    pub operator_token: OperatorToken,
    /// The management API token, for `dev-credentials.json`.
    pub(crate) raw_operator_token: Zeroizing<String>,
    pub clock: Arc<dyn Clock>,
}

impl LocalApp {
    /// Opens (or initialises) a data directory.
    pub fn open(config: LocalConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let dir = &config.data_dir;
        files::prepare_data_dir(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
        let db = Db::open(&dir.join("secure2fa.db")).context("cannot open the SQLite store")?;
        let vault = LocalKeyVault::open_or_create(&dir.join("master.key")).context("cannot open the master key")?;
        let (secrets, operator_token, raw_operator_token) =
            files::load_or_create_secrets(dir).context("cannot load deployment secrets")?;
        let store = Arc::new(SqliteStore::new(db.clone()));
        let queue = LocalJobQueue::new(db, clock.clone(), config.max_job_attempts);
        // Every write of this process goes through these services, so their
        // read cache never serves a stale project, channel, template or client.
        let service_config = ServiceConfig {
            read_cache_ttl: Some(Duration::from_secs(300)),
            public_url: config.public_url.clone(),
            ..ServiceConfig::default()
        };
        let services = Services::new(
            store.clone(),
            Arc::new(vault),
            Arc::new(queue.clone()),
            clock.clone(),
            // One process serves every request: its buckets are exact.
            Arc::new(InProcessQuotas::default()),
            &service_config,
        );
        let outbox = Outbox::new(&dir.join("outbox.jsonl"), clock.clone());
        let policy =
            if config.allow_private_webhooks { AddressPolicy::AllowPrivate } else { AddressPolicy::PublicOnly };
        // A channel's SMTP host is chosen by its owner, like a webhook URL:
        // the same address policy applies.
        let providers = ProvidersConfig {
            endpoints: config.provider_endpoints.clone(),
            smtp: SmtpOptions { address_policy: policy, ..Default::default() },
            ..Default::default()
        };
        let senders: Arc<dyn MessageSender> = Arc::new(
            ProviderRegistry::with_providers(&providers)
                .context("cannot set up the delivery providers")?
                .with(ProviderKind::Outbox, Arc::new(outbox.clone())),
        );
        let webhooks = HttpWebhookPoster::new(policy, HttpWebhookPoster::DEFAULT_TIMEOUT)
            .context("cannot build the webhook HTTP client")?;
        let otp = services.otp();
        let worker = services.worker(senders.clone(), Arc::new(webhooks));
        let manage = services
            .management(secrets.index_key.clone(), true)
            .with_sender(senders)
            .with_queue_admin(Arc::new(queue.clone()));
        // Account mail (sign-up, reset) goes to the outbox, like the codes.
        let mailer = SystemMailer {
            sender: Arc::new(outbox.clone()),
            provider: ProviderKind::Outbox,
            credentials: Arc::new(serde_json::json!({})),
        };
        let base_url = config.public_url.clone().or_else(|| config.base_url.clone());
        let accounts = services.accounts(secrets.index_key.clone(), mailer, base_url.as_deref());
        let receipts = services.receipts(Arc::new(ProviderReceiptReader));
        let keys = services.keys.clone();
        Ok(Self {
            config,
            store,
            queue,
            outbox,
            keys,
            otp,
            worker,
            manage,
            accounts,
            receipts,
            operator_token,
            raw_operator_token,
            clock,
        })
    }

    /// The routers the Lambdas serve, plus `/dev/outbox`.
    pub fn router(&self) -> Router {
        let ip_limit = self.config.ip_limit_per_minute.map(IpRateLimit::per_minute);
        let router = secure2fa_http::base_router()
            .merge(secure2fa_http::otp_router(self.otp.clone(), secure2fa_http::OtpRoutes::Both, ip_limit))
            .merge(secure2fa_http::management_router(
                self.manage.clone(),
                self.accounts.clone(),
                self.operator_token.clone(),
            ))
            .merge(secure2fa_http::account_router(self.accounts.clone()))
            .merge(secure2fa_http::receipts_router(self.receipts.clone(), self.config.public_url.clone()))
            .merge(self.dev_router())
            .merge(secure2fa_dashboard::dashboard_router(
                self.manage.clone(),
                self.accounts.clone(),
                self.dashboard_options(),
            ))
            .layer(middleware::from_fn(client_ip_from_peer));
        secure2fa_http::with_edge_layers(router)
    }

    /// The dashboard quotes this server's address in its snippets and
    /// sends HSTS when that address is https.
    fn dashboard_options(&self) -> secure2fa_dashboard::DashboardOptions {
        let base = self.config.public_url.clone().or_else(|| self.config.base_url.clone());
        secure2fa_dashboard::DashboardOptions {
            https: base.as_deref().is_some_and(|b| b.starts_with("https://")),
            api_base_url: base,
        }
    }

    /// `/dev/outbox` lists codes and addresses: open to this machine only
    /// (and only under a loopback host name, against DNS rebinding), behind
    /// the operator token when the server is `public`.
    fn dev_router(&self) -> Router {
        let dev = dev_routes::router(self.outbox.clone());
        if self.config.public {
            secure2fa_http::operator_only(dev, self.operator_token.clone())
        } else {
            dev_routes::loopback_host_only(dev)
        }
    }

    /// Runs every job that is due now; what tests call instead of waiting.
    pub async fn process_pending_jobs(&self) -> anyhow::Result<usize> {
        Ok(crate::workers::run_pending(&self.queue, &self.worker).await?)
    }

    /// Deletes expired log entries and send counters now; the server runs
    /// it at start and every [`SWEEP_INTERVAL`].
    pub async fn sweep_expired(&self) -> anyhow::Result<(u64, u64)> {
        let (logs, counters) = self.store.sweep_expired(self.clock.now()).await?;
        if logs + counters > 0 {
            tracing::info!(logs, counters, "swept expired log entries and send counters");
        }
        Ok((logs, counters))
    }

    fn spawn_sweeper(&self, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let app = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = app.sweep_expired().await {
                    tracing::error!(error = %e, "sweep of expired records failed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                    _ = stop.changed() => break,
                }
            }
        })
    }

    /// Releases what a previous run of this process held when it stopped:
    /// job leases and delivery claims (nothing else runs on this data
    /// directory), so pending work resumes at once and no code is lost.
    pub async fn recover_after_restart(&self) -> anyhow::Result<()> {
        let jobs = self.queue.release_leases().await?;
        let deliveries = self.store.release_delivery_claims().await?;
        if jobs + deliveries > 0 {
            tracing::info!(jobs, deliveries, "released leases left by a previous run");
        }
        Ok(())
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests and
    /// stops the pollers (a job they were running finishes first).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.recover_after_restart().await?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let workers = spawn_workers(self.queue.clone(), self.worker.clone(), self.config.workers, stop_rx.clone());
        let pollers = [workers, self.spawn_sweeper(stop_rx)];
        let app = self.router().into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).with_graceful_shutdown(shutdown).await?;
        let _ = stop_tx.send(true);
        for p in pollers {
            let _ = p.await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn client_ip_from_peer(mut req: Request, next: Next) -> axum::response::Response {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        req.extensions_mut().insert(ClientIp(addr.ip()));
    }
    next.run(req).await
}

/// Whether the server may listen on `addr`: loopback always, anything else
/// only when the operator asked for a public server.
pub fn check_listen_address(addr: SocketAddr, public: bool) -> anyhow::Result<()> {
    if addr.ip().is_loopback() || public {
        return Ok(());
    }
    anyhow::bail!(
        "refusing to listen on {addr}: it is not a loopback address. Pass --public to serve other hosts \
         (then /dev/* requires the operator token from dev-credentials.json)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_loopback_addresses_need_public() {
        let lan: SocketAddr = "192.168.1.20:3000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:3000".parse().unwrap();
        assert!(check_listen_address("127.0.0.1:3000".parse().unwrap(), false).is_ok());
        assert!(check_listen_address("[::1]:3000".parse().unwrap(), false).is_ok());
        assert!(check_listen_address(lan, false).is_err());
        assert!(check_listen_address(any, false).is_err());
        assert!(check_listen_address(any, true).is_ok());
    }
}
