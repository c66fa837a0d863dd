//! Slow clients against the real binary: headers or a body sent a byte at a
//! time are cut off by their timeouts, idle connections are closed, and
//! slow connections can neither exceed the connection cap nor keep others
//! out while under it.
//!
//! Timeouts are short (1–2 s, set by flags) so the tests are quick. Every
//! bound asserted has seconds of slack on the side a loaded machine can
//! push it, and none on the side it cannot: the server cannot cut a
//! connection before its timeout, nor serve a queued one before a slot
//! frees.

#[path = "common/server.rs"]
mod server;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use server::Server;

/// What a busy machine may add to a timeout before the server acts on it.
const SLACK: Duration = Duration::from_secs(3);

fn start(args: &[&str]) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.db"), args);
    (dir, server)
}

/// Reads until the server closes the connection (or resets it); returns
/// what it sent. Panics if it is still open after `limit`.
async fn read_until_closed(stream: &mut (impl AsyncReadExt + Unpin), limit: Duration) -> String {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "still open after {limit:?}; received {:?}",
                String::from_utf8_lossy(&received)
            ),
            Ok(Ok(0) | Err(_)) => return String::from_utf8_lossy(&received).into_owned(),
            Ok(Ok(n)) => received.extend_from_slice(&buf[..n]),
        }
    }
}

/// Opens a connection and sends the start of a request's headers, never
/// the end.
async fn slowloris(server: &Server) -> TcpStream {
    let mut stream = TcpStream::connect(server.addr).await.expect("connects");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: moodlog\r\nX-Slow: ")
        .await
        .expect("writes");
    stream
}

#[tokio::test(flavor = "multi_thread")]
async fn headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_timeout() {
    let timeout = Duration::from_secs(1);
    let (_dir, server) = start(&["--header-timeout", "1s"]);

    let started = Instant::now();
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // 200 bytes at 5 a second would take 40 s.
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: moodlog\r\nX-Slow: {}\r\n\r\n",
        "a".repeat(160)
    );
    let dribble = tokio::spawn(async move {
        for byte in request.bytes() {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let received = read_until_closed(&mut reader, timeout + SLACK + SLACK).await;
    let elapsed = started.elapsed();
    dribble.abort();

    assert!(
        elapsed >= timeout,
        "cut off after {elapsed:?}, before the timeout"
    );
    assert!(elapsed <= timeout + SLACK, "cut off only after {elapsed:?}");
    assert!(!received.contains("200 OK"), "served: {received}");

    // The server is fine for everybody else.
    let body = reqwest::get(server.url("/healthz")).await.unwrap();
    assert_eq!(body.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_keep_alive_connection_is_closed_after_the_header_timeout() {
    let timeout = Duration::from_secs(1);
    let (_dir, server) = start(&["--header-timeout", "1s"]);

    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: moodlog\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&response).ends_with("ok\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the response");
        response.extend_from_slice(&buf[..n]);
    }
    let answered = Instant::now();
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));

    // Kept alive, then closed once it has waited the header timeout for a
    // next request (the clock started before the response reached us).
    let rest = read_until_closed(&mut stream, timeout + SLACK + SLACK).await;
    let idle = answered.elapsed();
    assert!(rest.is_empty(), "unexpected bytes: {rest}");
    assert!(idle >= timeout / 2, "closed after only {idle:?}");
    assert!(idle <= timeout + SLACK, "idle for {idle:?}");
}

/// Headers at once, then a 100-byte JSON body a byte every 100 ms (10 s).
async fn dribble_a_body(server: &Server) -> (Duration, String) {
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let body = format!("{{\"username\":\"{}\"}}", "a".repeat(100 - 15));
    assert_eq!(body.len(), 100);
    writer
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: moodlog\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n",
        )
        .await
        .unwrap();
    let dribble = tokio::spawn(async move {
        for byte in body.bytes() {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let received = read_until_closed(&mut reader, Duration::from_secs(9)).await;
    dribble.abort();
    (started.elapsed(), received)
}

fn assert_408_problem(received: &str) {
    let lower = received.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 408"), "{received}");
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{received}"
    );
    assert!(lower.contains("connection: close"), "{received}");
    assert!(received.contains("\"status\":408"), "{received}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_sent_a_byte_at_a_time_is_answered_408_at_the_body_timeout() {
    let timeout = Duration::from_secs(1);
    let (_dir, server) = start(&["--body-timeout", "1s"]);

    let (elapsed, received) = dribble_a_body(&server).await;
    assert_408_problem(&received);
    assert!(
        elapsed >= timeout,
        "answered after {elapsed:?}, before the timeout"
    );
    assert!(
        elapsed <= timeout + SLACK,
        "answered only after {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_body_is_the_clients_fault_even_past_the_request_timeout() {
    // The request timeout fires first, while the handler waits for the
    // body: still 408, not the 503 that blames the server.
    let (_dir, server) = start(&["--body-timeout", "60s", "--request-timeout", "1s"]);
    let (elapsed, received) = dribble_a_body(&server).await;
    assert_408_problem(&received);
    assert!(elapsed <= Duration::from_secs(1) + SLACK, "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_slow_connections_under_the_cap_do_not_keep_others_waiting() {
    // Default cap (1024); a header timeout far longer than the test, so no
    // slow connection is released while it runs.
    let (_dir, server) = start(&["--header-timeout", "60s"]);
    let listener_only = server.sockets();

    let mut slow = Vec::new();
    for _ in 0..200 {
        slow.push(slowloris(&server).await);
    }
    // All 200 are accepted and held by the server.
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.sockets() < listener_only + 200 {
        assert!(
            Instant::now() < deadline,
            "only {} sockets",
            server.sockets()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let response = reqwest::get(server.url("/healthz")).await.unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert!(took < Duration::from_secs(5), "/healthz took {took:?}");

    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let open = metric(&metrics, "moodlog_http_connections_open");
    assert!(open >= 201.0, "{open} open connections reported");
    drop(slow);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_connection_cap_holds_and_queued_clients_are_served_when_slots_free() {
    let cap = 20;
    let timeout = Duration::from_secs(2);
    let (_dir, server) = start(&["--max-connections", "20", "--header-timeout", "2s"]);
    let listener_only = server.sockets();

    // 50 slow connections: the kernel completes every handshake, the server
    // takes 20.
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(slowloris(&server).await);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.sockets() < listener_only + cap {
        assert!(
            Instant::now() < deadline,
            "only {} sockets",
            server.sockets()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A normal client queues behind them: it is not refused, and it cannot
    // be served before the first slow connections time out.
    let url = server.url("/healthz");
    let client = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
    let mut most = 0;
    while !client.is_finished() {
        most = most.max(server.sockets());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let served_after = started.elapsed();
    let status = client.await.unwrap();
    assert_eq!(status.expect("served, not refused"), 200);
    assert!(
        most <= listener_only + cap,
        "{most} sockets open, over the cap of {cap} connections"
    );
    assert!(served_after >= timeout, "served after {served_after:?}");
    // Ahead of it: 50 slow connections, 20 at a time, each held 2 s.
    assert!(
        served_after <= 3 * timeout + SLACK + SLACK,
        "served only after {served_after:?}"
    );

    let metrics = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let timed_out = metric(&metrics, "moodlog_http_connections_timed_out_total");
    assert!(timed_out >= 20.0, "{timed_out} connections timed out");
    drop(slow);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_does_not_wait_for_slow_or_idle_connections() {
    let (_dir, server) = start(&["--header-timeout", "60s"]);
    let _slow = slowloris(&server).await;
    let _idle = TcpStream::connect(server.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let started = Instant::now();
    let status = server.stop();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < SLACK + SLACK,
        "took {:?} to stop",
        started.elapsed()
    );
}

/// A sample's value in Prometheus text.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}
