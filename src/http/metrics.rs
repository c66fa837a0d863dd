//! Request and database metrics in Prometheus format, with one registry per
//! application (tests run several side by side).

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::mood_cache::MoodCache;
use crate::app::AppState;
use crate::store::StoreStats;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    db_connections: Family<BackendLabels, Gauge>,
    db_queued_reads: Family<BackendLabels, Gauge>,
    db_queued_writes: Family<BackendLabels, Gauge>,
    db_commits: Family<BackendLabels, Counter<u64, AtomicU64>>,
    db_committed_writes: Family<BackendLabels, Counter<u64, AtomicU64>>,
    mood_cache_hits: Counter<u64, AtomicU64>,
    mood_cache_misses: Counter<u64, AtomicU64>,
    mood_cache_bytes: Gauge,
    connections_open: Gauge,
    connections: Counter<u64, AtomicU64>,
    connections_timed_out: Counter<u64, AtomicU64>,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to ~4 s.
    Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.000_25, 2.0, 15,
    ))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("moodlog");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        let latency = LatencyFamily::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            latency.clone(),
        );
        let db_connections = Family::default();
        registry.register(
            "db_connections",
            "Open database connections",
            db_connections.clone(),
        );
        let db_queued_reads = Family::default();
        registry.register(
            "db_queued_reads",
            "Reads waiting for a connection",
            db_queued_reads.clone(),
        );
        let db_queued_writes = Family::default();
        registry.register(
            "db_queued_writes",
            "Writes waiting for the writer",
            db_queued_writes.clone(),
        );
        let db_commits = Family::default();
        registry.register(
            "db_commits",
            "Transactions committed by the writer",
            db_commits.clone(),
        );
        let db_committed_writes = Family::default();
        registry.register(
            "db_committed_writes",
            "Writes committed (several may share a transaction)",
            db_committed_writes.clone(),
        );
        let mood_cache_hits = Counter::default();
        registry.register(
            "mood_cache_hits",
            "GET /mood answers served from the body cache",
            mood_cache_hits.clone(),
        );
        let mood_cache_misses = Counter::default();
        registry.register(
            "mood_cache_misses",
            "GET /mood answers read from the database",
            mood_cache_misses.clone(),
        );
        let mood_cache_bytes = Gauge::default();
        registry.register(
            "mood_cache_bytes",
            "Bytes held by the GET /mood body cache",
            mood_cache_bytes.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "http_connections_open",
            "Client connections open now (at most --max-connections)",
            connections_open.clone(),
        );
        let connections = Counter::default();
        registry.register(
            "http_connections",
            "Client connections accepted",
            connections.clone(),
        );
        let connections_timed_out = Counter::default();
        registry.register(
            "http_connections_timed_out",
            "Connections closed because a request's headers did not arrive within --header-timeout (slow, or idle between requests)",
            connections_timed_out.clone(),
        );
        Self {
            registry,
            connections_open,
            connections,
            connections_timed_out,
            mood_cache_hits,
            mood_cache_misses,
            mood_cache_bytes,
            requests,
            latency,
            db_connections,
            db_queued_reads,
            db_queued_writes,
            db_commits,
            db_committed_writes,
        }
    }

    pub fn connection_opened(&self) {
        self.connections.inc();
        self.connections_open.inc();
    }

    pub fn connection_closed(&self, timed_out: bool) {
        self.connections_open.dec();
        if timed_out {
            self.connections_timed_out.inc();
        }
    }

    fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                method: method.to_string(),
                route: route.to_string(),
            })
            .observe(seconds);
    }

    pub fn render(&self, stats: &StoreStats, cache: &MoodCache) -> String {
        let (hits, misses) = cache.counts();
        set_counter(&self.mood_cache_hits, hits);
        set_counter(&self.mood_cache_misses, misses);
        self.mood_cache_bytes
            .set(i64::try_from(cache.bytes()).unwrap_or(i64::MAX));
        let backend = BackendLabels {
            backend: stats.backend.to_string(),
        };
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.db_connections
            .get_or_create(&backend)
            .set(gauge(stats.connections));
        self.db_queued_reads
            .get_or_create(&backend)
            .set(gauge(stats.queued_reads));
        self.db_queued_writes
            .get_or_create(&backend)
            .set(gauge(stats.queued_writes));
        set_counter(&self.db_commits.get_or_create(&backend), stats.commits);
        set_counter(
            &self.db_committed_writes.get_or_create(&backend),
            stats.committed_writes,
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Brings a counter up to a total kept elsewhere.
fn set_counter(counter: &Counter<u64, AtomicU64>, total: u64) {
    let seen = counter.get();
    if total > seen {
        counter.inc_by(total - seen);
    }
}

/// Counts and times every request by its route template (never the raw
/// path, which would carry ids and grow without bound).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let method = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.observe(
        method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
