//! The accept loop: HTTP/1 connections up to a cap, each with a deadline
//! for its request headers, drained gracefully on shutdown.
//!
//! `axum::serve` has neither a header-read timeout nor a connection cap, so
//! a client sending its headers a byte at a time (slowloris) could hold a
//! connection, and enough of them every file descriptor, for ever; and on
//! shutdown it waited for such connections too. This is the same loop with
//! hyper's `header_read_timeout` and a semaphore.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use super::metrics::Metrics;

/// What a connection may cost.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// From when a connection is ready for a request (just accepted, or
    /// done with the previous response) to the end of that request's
    /// headers. hyper starts this clock as soon as it waits for a request,
    /// so it is also how long an idle keep-alive connection stays open.
    pub header_timeout: Duration,
    /// Connections open at once. At the cap the loop stops accepting, and
    /// new connections wait in the kernel's listen queue (up to its
    /// backlog) rather than being refused: a client sees a slow connect,
    /// not an error, and the header timeout bounds how long any slot is
    /// held by a client that sends nothing useful.
    pub max_connections: usize,
}

/// Most connections a cap may allow (`acquire_many` counts in u32).
const MOST_CONNECTIONS: usize = 1 << 24;

/// Serves `router` on `listener` until `shutdown` resolves; then stops
/// accepting (new connections are refused), lets each connection finish the
/// request it is serving, and returns when all are closed. Connections that
/// have not sent a whole request yet have nothing to finish and are closed
/// at once, so slow clients cannot hold the shutdown up.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let max = limits.max_connections.clamp(1, MOST_CONNECTIONS);
    let slots = Arc::new(Semaphore::new(max));
    let (stopping, stop) = watch::channel(false);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let asked = Arc::new(AtomicBool::new(false));
        let service = router.clone().map_request({
            let asked = asked.clone();
            move |mut req: axum::http::Request<Incoming>| {
                asked.store(true, Ordering::Relaxed);
                // What `into_make_service_with_connect_info` did: the peer
                // address, for the client-address extractor.
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            }
        });
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let metrics = metrics.clone();
        let mut stop = stop.clone();
        metrics.connection_opened();
        tokio::spawn(async move {
            tokio::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stop.changed() => {
                    if asked.load(Ordering::Relaxed) {
                        // Finishes the request in flight, if any, then closes.
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    } else {
                        // Nothing asked yet: nothing to finish.
                        Ok(())
                    }
                }
            };
            metrics.connection_closed(result.as_ref().is_err_and(hyper::Error::is_timeout));
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }

    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds its slot until it has closed.
    let all = u32::try_from(max).expect("at most MOST_CONNECTIONS");
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// Errors of one connection (it was reset before we took it) are nothing to
/// wait for; others, such as running out of file descriptors, are logged
/// and given a second to clear, as `axum::serve` does.
async fn accept_failed(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    ) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// How many connections the open-file limit allows beside `reserve` other
/// descriptors (database files and connections, the listener, logs). The
/// soft limit is raised towards the hard one first, as the Go runtime does,
/// since the common soft default (1024) is below the connection cap's.
pub fn fit_open_file_limit(max_connections: usize, reserve: usize) -> usize {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let wanted = (max_connections + reserve) as u64;
        let limit = getrlimit(Resource::Nofile);
        let mut current = limit.current.unwrap_or(u64::MAX);
        if current < wanted {
            let raised = limit.maximum.map_or(wanted, |max| max.min(wanted));
            if setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(raised),
                    maximum: limit.maximum,
                },
            )
            .is_ok()
            {
                current = raised;
            }
        }
        if current < wanted {
            let fits = usize::try_from(current)
                .unwrap_or(usize::MAX)
                .saturating_sub(reserve)
                .max(1);
            tracing::warn!(
                max_connections,
                open_file_limit = current,
                lowered_to = fits,
                "the open-file limit is too low for --max-connections; raise `ulimit -n`"
            );
            return fits;
        }
    }
    max_connections
}
