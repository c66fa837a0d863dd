//! Wiring: the store, the shared state, the router with its middleware, and
//! a server that stops gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use jiff::SignedDuration;
use tokio::net::TcpListener;

use crate::auth::{IpBlock, PasswordHasher, Throttle};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, DatabaseUrl, PostgresUrl};
use crate::http::metrics::Metrics;
use crate::http::mood_cache::MoodCache;
use crate::http::server::{ConnectionLimits, fit_open_file_limit};
use crate::store::postgres::{PostgresConfig, PostgresStore};
use crate::store::sqlite::{SqliteConfig, SqliteStore};
use crate::store::{Purge, Store};

/// How long idempotency keys are remembered.
pub const IDEMPOTENCY_WINDOW: SignedDuration = SignedDuration::from_hours(24);
/// How often expired sessions, keys and throttle events are deleted.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// Settings the handlers read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub session_idle_timeout: SignedDuration,
    pub session_lifetime: SignedDuration,
    /// `--public-url`'s origin, if set.
    pub public_origin: Option<String>,
    pub request_timeout: Duration,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    /// Load balancers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpBlock>,
}

impl Settings {
    /// Cookies carry `Secure` when browsers reach us over TLS.
    pub fn secure_cookies(&self) -> bool {
        self.public_origin
            .as_deref()
            .is_some_and(|o| o.starts_with("https://"))
    }
}

/// Shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    pub throttle: Throttle,
    pub clock: Arc<dyn Clock>,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub mood_cache: Arc<MoodCache>,
}

impl AppState {
    /// This server's origin as browsers see it, for cross-site checks.
    pub fn origin_of(&self, headers: &HeaderMap) -> Option<String> {
        if let Some(origin) = &self.settings.public_origin {
            return Some(origin.clone());
        }
        let host = headers.get(header::HOST)?.to_str().ok()?;
        Some(format!("http://{}", host.to_ascii_lowercase()))
    }
}

/// Opens the database named by the URL, running its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &config.database_url {
        DatabaseUrl::Sqlite(path) => Arc::new(SqliteStore::open(&SqliteConfig {
            path: path.clone(),
            durability: config.durability,
            readers: config.sqlite_readers,
        })?),
        DatabaseUrl::Postgres(url) => {
            Arc::new(PostgresStore::connect(&postgres_config(config, url)).await?)
        }
    })
}

/// Connections give up quickly, so that a database that is down answers
/// 503 at once rather than holding requests until they time out.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn postgres_config(config: &Config, url: &PostgresUrl) -> PostgresConfig {
    PostgresConfig {
        pg: url.config().clone(),
        pool_size: config.pg_pool_size,
        statement_timeout: config.pg_statement_timeout,
        connect_timeout: PG_CONNECT_TIMEOUT.min(config.request_timeout),
        pool_timeout: config.request_timeout,
    }
}

/// File descriptors kept for everything but client connections: the
/// listener, standard streams, the runtime's epoll and wakers, headroom.
const OTHER_FILES: usize = 32;

/// File descriptors the database needs: SQLite's three files per
/// connection, or the PostgreSQL pool's sockets.
fn database_files(config: &Config) -> usize {
    match config.database_url {
        DatabaseUrl::Sqlite(_) => 3 * (config.sqlite_readers + 1),
        DatabaseUrl::Postgres(_) => config.pg_pool_size,
    }
}

/// Runs the migrations alone; returns how many were applied.
pub async fn migrate(config: &Config) -> anyhow::Result<usize> {
    match &config.database_url {
        DatabaseUrl::Sqlite(path) => SqliteStore::migrate_only(&SqliteConfig {
            path: path.clone(),
            durability: config.durability,
            readers: 0,
        }),
        DatabaseUrl::Postgres(url) => {
            PostgresStore::migrate_only(&postgres_config(config, url)).await
        }
    }
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    limits: ConnectionLimits,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As `build`, with a clock of the caller's (tests move time with it).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let store = open_store(&config).await?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.bind))?;
        let state = AppState {
            throttle: Throttle::new(store.clone(), config.signup_limit),
            store,
            hasher: PasswordHasher::new(config.hash_concurrency)?,
            clock,
            settings: Arc::new(Settings {
                session_idle_timeout: config.session_idle_timeout,
                session_lifetime: config.session_lifetime,
                public_origin: config.public_url.clone(),
                request_timeout: config.request_timeout,
                body_timeout: config.body_timeout,
                trusted_proxies: config.trusted_proxies.clone(),
            }),
            metrics: Arc::new(Metrics::new()),
            mood_cache: Arc::new(MoodCache::new(config.mood_cache_bytes)),
        };
        let limits = ConnectionLimits {
            header_timeout: config.header_timeout,
            max_connections: fit_open_file_limit(
                config.max_connections,
                OTHER_FILES + database_files(&config),
            ),
        };
        Ok(Self {
            listener,
            state,
            limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Serves until `shutdown` resolves, then stops accepting and finishes
    /// the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let purger = tokio::spawn(purge_periodically(self.state.clone()));
        let metrics = self.state.metrics.clone();
        let router = crate::http::router(self.state);
        let result =
            crate::http::server::serve(self.listener, router, self.limits, metrics, shutdown).await;
        // The purger holds the last handle on the store once the server has
        // stopped; when it goes, the store closes its connections.
        purger.abort();
        let _ = purger.await;
        result
    }

    /// Serves until SIGTERM or Ctrl-C.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

async fn purge_periodically(state: AppState) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        every.tick().await;
        let now = state.clock.now();
        let cutoffs = Purge {
            now,
            sessions_idle_before: now - state.settings.session_idle_timeout,
            keys_before: now - IDEMPOTENCY_WINDOW,
            events_before: now - Throttle::retention(),
        };
        match state.store.purge(cutoffs).await {
            Ok(rows) => tracing::debug!(rows, "purged expired rows"),
            Err(e) => tracing::warn!(error = %e, "purge failed"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
