use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use secure2fa_core::clock::Clock;
use secure2fa_core::crypto::DataKeyCache;
use secure2fa_core::manage::Management;
use secure2fa_core::model::ProviderKind;
use secure2fa_core::otp::{OtpService, Worker};
use secure2fa_core::secrets::OperatorToken;
use secure2fa_http::{ClientIp, IpRateLimit};
use secure2fa_local::{Db, LocalJobQueue, LocalKeyVault, Outbox, SqliteStore, files};
use secure2fa_providers::{AddressPolicy, HttpWebhookPoster, ProviderRegistry};
use tokio::net::TcpListener;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::dev_routes;

#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub data_dir: PathBuf,
    /// Requests per minute per client IP on the OTP API; `None` disables.
    pub ip_limit_per_minute: Option<NonZeroU32>,
    /// In-process job pollers.
    pub workers: usize,
    /// Deliveries of a job before it is dead-lettered (SQS maxReceiveCount).
    pub max_job_attempts: u32,
    /// Let webhooks reach loopback and private addresses (a receiver on
    /// this machine or network). Off unless asked for.
    pub allow_private_webhooks: bool,
}

impl LocalConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ip_limit_per_minute: NonZeroU32::new(1200),
            workers: 2,
            max_job_attempts: 5,
            allow_private_webhooks: false,
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
    pub operator_token: OperatorToken,
    /// The management API token, for `dev-credentials.json`.
    pub(crate) raw_operator_token: Zeroizing<String>,
    pub clock: Arc<dyn Clock>,
}

impl LocalApp {
    /// Opens (or initialises) a data directory.
    pub fn open(config: LocalConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create data directory {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let db = Db::open(&dir.join("secure2fa.db")).context("cannot open the SQLite store")?;
        let vault = LocalKeyVault::open_or_create(&dir.join("master.key")).context("cannot open the master key")?;
        let (secrets, operator_token, raw_operator_token) =
            files::load_or_create_secrets(dir).context("cannot load deployment secrets")?;
        let keys = Arc::new(DataKeyCache::new(Arc::new(vault), 10_000, Duration::from_secs(15 * 60)));
        let store = Arc::new(SqliteStore::new(db.clone()));
        let queue = LocalJobQueue::new(db, clock.clone(), config.max_job_attempts);
        let outbox = Outbox::new(&dir.join("outbox.jsonl"), clock.clone());
        let senders = ProviderRegistry::new().with(ProviderKind::Outbox, Arc::new(outbox.clone()));
        let policy =
            if config.allow_private_webhooks { AddressPolicy::AllowPrivate } else { AddressPolicy::PublicOnly };
        let webhooks = HttpWebhookPoster::new(policy, HttpWebhookPoster::DEFAULT_TIMEOUT)
            .context("cannot build the webhook HTTP client")?;
        let otp = OtpService {
            store: store.clone(),
            keys: keys.clone(),
            queue: Arc::new(queue.clone()),
            clock: clock.clone(),
        };
        let worker = Worker {
            store: store.clone(),
            keys: keys.clone(),
            queue: Arc::new(queue.clone()),
            sender: Arc::new(senders),
            webhooks: Arc::new(webhooks),
            clock: clock.clone(),
        };
        let manage = Management {
            store: store.clone(),
            keys: keys.clone(),
            index_key: secrets.index_key.clone(),
            clock: clock.clone(),
            allow_insecure_webhooks: true,
        };
        Ok(Self { config, store, queue, outbox, keys, otp, worker, manage, operator_token, raw_operator_token, clock })
    }

    /// The routers the Lambdas serve, plus `/dev/outbox`.
    pub fn router(&self) -> Router {
        let ip_limit = self.config.ip_limit_per_minute.map(IpRateLimit::per_minute);
        let router = secure2fa_http::base_router()
            .merge(secure2fa_http::otp_router(self.otp.clone(), secure2fa_http::OtpRoutes::Both, ip_limit))
            .merge(secure2fa_http::management_router(self.manage.clone(), self.operator_token.clone()))
            .merge(dev_routes::router(self.outbox.clone()))
            .layer(middleware::from_fn(client_ip_from_peer));
        secure2fa_http::with_tracing(router)
    }

    /// Runs every job that is due now; what tests call instead of waiting.
    pub async fn process_pending_jobs(&self) -> anyhow::Result<usize> {
        Ok(self.queue.run_pending(&self.worker).await?)
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
        let pollers = self.queue.spawn_pollers(self.worker.clone(), self.config.workers, stop_rx);
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
