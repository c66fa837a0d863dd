//! The `moodlog` binary on PostgreSQL, as an operator runs it: several
//! instances sharing one database, PostgreSQL going away and coming back
//! under load, secrets in the database URL, and migrations.
//!
//! Every test starts real `moodlog` processes on a schema of its own (see
//! `common/postgres.rs`) and talks to them over HTTP. Outages are made by a
//! TCP proxy between moodlog and PostgreSQL (`PgProxy`), so the shared
//! server keeps running for every other test.
//!
//! Run with `cargo nextest run --test postgres`; `MOODLOG_TEST_POSTGRES_URL`
//! names the server (default `postgres://postgres@127.0.0.1:5432/test`).

#[path = "common/postgres.rs"]
mod postgres_support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use postgres_support::fresh_schema;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const PASSWORD: &str = "violet tugboat simmers quietly";
/// Longest a `moodlog` process may take to print its listening line.
const START_PATIENCE: Duration = Duration::from_secs(30);
/// Connections per instance: tests run in parallel against one server
/// (`max_connections` is often 100).
const POOL_SIZE: &str = "4";

// ---------------------------------------------------------------------------
// The launcher
// ---------------------------------------------------------------------------

/// A `moodlog` process whose stdout and stderr are collected into one
/// string by two threads (so that a chatty `RUST_LOG=trace` never fills a
/// pipe and blocks it). Killed when dropped.
struct Moodlog {
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// The address from the listening line (in a mutex only to make
    /// `Moodlog` shareable between tasks).
    listening: Mutex<mpsc::Receiver<String>>,
    base: Option<String>,
}

impl Moodlog {
    /// Starts `moodlog ARGS` with extra environment variables; returns at
    /// once (see `ready` and `wait_exit`).
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_moodlog"))
            .args(args)
            .envs(env.iter().copied())
            .env_remove("MOODLOG_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moodlog starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (found, listening) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let readers = vec![
            collect(stdout, output.clone(), Some(found)),
            collect(stderr, output.clone(), None),
        ];
        Self {
            child,
            output,
            readers,
            listening: Mutex::new(listening),
            base: None,
        }
    }

    /// `moodlog serve` on a free port of 127.0.0.1, waited for.
    fn serve(database_url: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut server = Self::spawn_serve(database_url, extra_args, env);
        server.ready();
        server
    }

    /// `moodlog serve` on a free port of 127.0.0.1, not waited for.
    fn spawn_serve(database_url: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut args = vec![
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--signup-limit",
            "0",
            "--pg-pool-size",
            POOL_SIZE,
            "--database-url",
            database_url,
        ];
        args.extend_from_slice(extra_args);
        Self::spawn(&args, env)
    }

    /// Waits for the `listening on http://ADDR` line; panics with the
    /// process's output if it exits or takes too long.
    fn ready(&mut self) -> &str {
        if self.base.is_none() {
            let listening = self.listening.lock().expect("listening lock");
            match listening.recv_timeout(START_PATIENCE) {
                Ok(addr) => self.base = Some(format!("http://{addr}")),
                Err(_) => {
                    let status = self.child.try_wait().ok().flatten();
                    panic!(
                        "moodlog did not start (exit status {status:?}); output:\n{}",
                        self.output()
                    );
                }
            }
        }
        self.base.as_deref().expect("set above")
    }

    /// `http://ADDR/path` of a started server.
    fn url(&self, path: &str) -> String {
        let base = self.base.as_deref().expect("the server is ready");
        format!("{base}{path}")
    }

    /// Everything the process has written so far, stdout and stderr.
    fn output(&self) -> String {
        self.output.lock().expect("output lock").clone()
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits up to `patience` for the process to exit; returns its status
    /// and its whole output.
    fn wait_exit(&mut self, patience: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + patience;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "moodlog did not exit within {patience:?}; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes close with the process: the readers end.
        for reader in self.readers.drain(..) {
            reader.join().expect("output reader");
        }
        (status, self.output())
    }
}

impl Drop for Moodlog {
    fn drop(&mut self) {
        // Does nothing to a process already waited for.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a pipe into `output` line by line; the first line carrying
/// `listening on http://` also goes to `found`.
fn collect(
    pipe: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    mut found: Option<mpsc::Sender<String>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            let text = String::from_utf8_lossy(&line);
            if let Some(addr) = text.split("listening on http://").nth(1)
                && let Some(found) = found.take()
            {
                let _ = found.send(addr.trim().to_string());
            }
            output.lock().expect("output lock").push_str(&text);
            line.clear();
        }
    })
}

/// Runs `moodlog ARGS` to completion within `patience`.
fn run_to_exit(args: &[&str], patience: Duration) -> (ExitStatus, String, Duration) {
    let started = Instant::now();
    let mut process = Moodlog::spawn(args, &[("RUST_LOG", "trace")]);
    let (status, output) = process.wait_exit(patience);
    (status, output, started.elapsed())
}

// ---------------------------------------------------------------------------
// A TCP proxy in front of PostgreSQL
// ---------------------------------------------------------------------------

/// What the proxy does with connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Forwards bytes both ways.
    Up,
    /// Closes every connection, and new ones at once: the server is gone.
    Cut,
    /// Holds every connection open, and accepts new ones, but carries no
    /// byte: the server (or the network) stopped answering. Leaving this
    /// state closes them.
    Stalled,
    /// As `Stalled`, but the connections it holds stay silent when the
    /// link comes back up (only `Cut` closes them): the network lost them
    /// without telling either end, as a firewall that forgets its state or
    /// a failover to another address does. New connections work again.
    BlackHole,
}

/// A TCP proxy on 127.0.0.1 in front of the PostgreSQL server, to make
/// outages without touching the server other tests share.
struct PgProxy {
    addr: SocketAddr,
    link: watch::Sender<Link>,
    /// Connections carrying bytes right now.
    forwarding: Arc<AtomicUsize>,
    acceptor: tokio::task::JoinHandle<()>,
}

impl PgProxy {
    async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let (link, _) = watch::channel(Link::Up);
        let forwarding = Arc::new(AtomicUsize::new(0));
        let (changes, counter) = (link.clone(), forwarding.clone());
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let link = changes.subscribe();
                tokio::spawn(relay(client, upstream.clone(), link, counter.clone()));
            }
        });
        Self {
            addr,
            link,
            forwarding,
            acceptor,
        }
    }

    /// Changes the link; returns once no connection carries bytes any
    /// more (unless the link is up).
    async fn set(&self, link: Link) {
        self.link.send_replace(link);
        if link != Link::Up {
            poll_until("the proxy to stop", Duration::from_secs(5), || async {
                self.forwarding.load(Ordering::SeqCst) == 0
            })
            .await;
        }
    }

    async fn cut(&self) {
        self.set(Link::Cut).await;
    }

    async fn restore(&self) {
        self.set(Link::Up).await;
    }
}

/// One connection through the proxy; both sockets close when it returns.
async fn relay(
    mut client: TcpStream,
    upstream: String,
    mut link: watch::Receiver<Link>,
    forwarding: Arc<AtomicUsize>,
) {
    let mut server = None;
    let state = {
        let _forwarding = Forwarding::start(&forwarding);
        let state = *link.borrow_and_update();
        if state == Link::Up {
            let Ok(mut stream) = TcpStream::connect(&upstream).await else {
                return;
            };
            let changed = tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut stream) => return,
                changed = link.wait_for(|l| *l != Link::Up) => changed.map_or(Link::Cut, |l| *l),
            };
            server = Some(stream);
            changed
        } else {
            state
        }
    };
    // Held silent: a stall lasts until the link changes, a black hole
    // until it is cut.
    let _ = match state {
        Link::Stalled => link.wait_for(|l| *l != Link::Stalled).await.map(drop),
        Link::BlackHole => link.wait_for(|l| *l == Link::Cut).await.map(drop),
        Link::Up | Link::Cut => Ok(()),
    };
    drop((client, server));
}

/// Counts a connection as forwarding while it lives.
struct Forwarding<'a>(&'a AtomicUsize);

impl<'a> Forwarding<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Forwarding<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.link.send_replace(Link::Cut);
        self.acceptor.abort();
    }
}

// ---------------------------------------------------------------------------
// URLs, HTTP and polling
// ---------------------------------------------------------------------------

/// `host:port` of a postgres:// URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").expect("a URL").1;
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    }
}

/// The URL with its `host:port` replaced.
fn with_host_port(url: &str, addr: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let user = authority.rsplit_once('@').map(|(user, _)| user);
    match user {
        Some(user) => format!("{scheme}://{user}@{addr}{tail}"),
        None => format!("{scheme}://{addr}{tail}"),
    }
}

/// The URL with `password` added to its user (`postgres` if it has none).
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or("postgres");
            format!("{scheme}://{user}:{password}@{host}{tail}")
        }
        None => format!("{scheme}://postgres:{password}@{authority}{tail}"),
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client")
}

/// A response read to the end, with how long it took.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
    took: Duration,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    try_send(request).await.expect("the server answers")
}

async fn try_send(request: reqwest::RequestBuilder) -> reqwest::Result<Reply> {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await?;
    Ok(Reply {
        status,
        headers,
        body,
        took: started.elapsed(),
    })
}

/// Signs up `name` on `server`.
async fn sign_up(http: &reqwest::Client, server: &Moodlog, name: &str) {
    let reply = send(
        http.post(server.url("/users"))
            .json(&json!({"username": name, "password": PASSWORD})),
    )
    .await;
    assert_eq!(reply.status, 201, "sign-up: {}", reply.body);
}

/// Logs `name` in on `server`; returns the token.
async fn log_in(http: &reqwest::Client, server: &Moodlog, name: &str) -> String {
    let reply = send(
        http.post(server.url("/login"))
            .json(&json!({"username": name, "password": PASSWORD})),
    )
    .await;
    assert_eq!(reply.status, 200, "login: {}", reply.body);
    reply.json()["token"].as_str().expect("a token").to_string()
}

/// POST /mood, with an `Idempotency-Key` if given.
async fn post_mood(
    http: &reqwest::Client,
    server: &Moodlog,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> Reply {
    send(mood_request(http, server, token, key, body)).await
}

fn mood_request(
    http: &reqwest::Client,
    server: &Moodlog,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = http.post(server.url("/mood")).bearer_auth(token).json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request
}

/// GET /mood, which must answer 200.
async fn moods(http: &reqwest::Client, server: &Moodlog, token: &str) -> Value {
    let reply = send(http.get(server.url("/mood")).bearer_auth(token)).await;
    assert_eq!(reply.status, 200, "GET /mood: {}", reply.body);
    reply.json()
}

/// Calls `probe` until it returns true; panics with `what` after `patience`.
async fn poll_until<F, Fut>(what: &str, patience: Duration, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if probe().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < patience,
            "timed out after {patience:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A moment `days_ago` whole days before now, as RFC 3339.
fn days_ago(days_ago: i64) -> String {
    (Timestamp::now() - SignedDuration::from_hours(24 * days_ago)).to_string()
}

// ---------------------------------------------------------------------------
// Several instances on one database
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_session_started_on_one_instance_works_and_ends_on_the_other() {
    let schema = fresh_schema().await;
    let a = Moodlog::serve(&schema.url, &[], &[]);
    let b = Moodlog::serve(&schema.url, &[], &[]);
    let http = client();
    sign_up(&http, &a, "alice").await;
    let token = log_in(&http, &a, "alice").await;

    let me = send(http.get(b.url("/me")).bearer_auth(&token)).await;
    assert_eq!(me.status, 200, "a token from A on B: {}", me.body);
    assert_eq!(me.json()["username"], "alice");

    let logout = send(http.post(a.url("/logout")).bearer_auth(&token)).await;
    assert_eq!(logout.status, 204, "logout: {}", logout.body);
    for (name, server) in [("B", &b), ("A", &a)] {
        let me = send(http.get(server.url("/me")).bearer_auth(&token)).await;
        assert_eq!(me.status, 401, "a revoked token on {name}: {}", me.body);
        assert_eq!(me.header("www-authenticate"), Some("Bearer"));
    }
}

/// Each instance caches serialized `GET /mood` bodies; a write through the
/// other instance must show at once, and both give one body the same tag.
#[tokio::test(flavor = "multi_thread")]
async fn a_list_cached_on_one_instance_shows_writes_made_through_the_other() {
    let schema = fresh_schema().await;
    let a = Moodlog::serve(&schema.url, &[], &[]);
    let b = Moodlog::serve(&schema.url, &[], &[]);
    let http = client();
    sign_up(&http, &a, "carol").await;
    let token = log_in(&http, &a, "carol").await;
    let list = |server| {
        let http = http.clone();
        let token = token.clone();
        async move { send(http.get(server).bearer_auth(&token)).await }
    };

    let body = json!({"rating": 4, "note": "first", "recorded_at": days_ago(1)});
    let first = post_mood(&http, &a, &token, None, &body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    // Cached on B (the second answer comes from its cache).
    for _ in 0..2 {
        assert_eq!(
            moods(&http, &b, &token).await["entries"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
    let body = json!({"rating": 9, "note": "second"});
    let second = post_mood(&http, &a, &token, None, &body).await;
    assert_eq!(second.status, 201, "{}", second.body);
    let on_b = moods(&http, &b, &token).await;
    assert_eq!(on_b["entries"][0]["note"], "second", "{on_b}");
    assert_eq!(on_b["current_streak"], 2);

    let id = second.json()["id"].as_str().unwrap().to_string();
    let deleted = send(
        http.delete(a.url(&format!("/mood/{id}")))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(deleted.status, 204);
    let on_b = moods(&http, &b, &token).await;
    assert_eq!(on_b["entries"].as_array().unwrap().len(), 1, "{on_b}");

    let zoned = send(
        http.patch(a.url("/me"))
            .bearer_auth(&token)
            .json(&json!({"timezone": "Asia/Tokyo"})),
    )
    .await;
    assert_eq!(zoned.status, 200, "{}", zoned.body);
    assert_eq!(moods(&http, &b, &token).await["timezone"], "Asia/Tokyo");

    // One body, one tag, whichever instance answers.
    let (on_a, on_b) = (list(a.url("/mood")).await, list(b.url("/mood")).await);
    assert_eq!(on_a.body, on_b.body);
    let tag = on_a.header("etag").expect("an ETag").to_string();
    assert_eq!(on_b.header("etag"), Some(tag.as_str()));
    let revalidated = send(
        http.get(b.url("/mood"))
            .bearer_auth(&token)
            .header("if-none-match", &tag),
    )
    .await;
    assert_eq!(revalidated.status, 304);
}

/// The first answer to a keyed request, and how many answers said it was
/// a replay.
struct Keyed {
    first: Value,
    replays: usize,
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_posts_through_two_instances_make_one_consistent_history() {
    const TASKS: usize = 4;
    const POSTS: usize = 25;
    let schema = fresh_schema().await;
    let servers = Arc::new([
        Moodlog::serve(&schema.url, &[], &[]),
        Moodlog::serve(&schema.url, &[], &[]),
    ]);
    let http = client();
    sign_up(&http, &servers[0], "bob").await;
    let token = log_in(&http, &servers[1], "bob").await;

    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (http, servers, token) = (http.clone(), servers.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            // Entry ids created without a key, and keyed requests by key.
            let mut unkeyed = Vec::new();
            let mut keyed = BTreeMap::new();
            for post in 0..POSTS {
                let n = task * POSTS + post;
                let body = json!({
                    "rating": 1 + n % 10,
                    "note": format!("task {task} post {post}"),
                    "tags": [format!("t{task}")],
                    // Seven days in a row, for streaks worth checking.
                    "recorded_at": days_ago((n % 7) as i64),
                });
                let (here, there) = (&servers[n % 2], &servers[(n + 1) % 2]);
                if post % 2 == 1 {
                    let reply = post_mood(&http, here, &token, None, &body).await;
                    assert_eq!(reply.status, 201, "{}", reply.body);
                    unkeyed.push(reply.json()["id"].as_str().expect("id").to_string());
                    continue;
                }
                let key = format!("key-{task}-{post}");
                let mut answers = Vec::new();
                if post % 4 == 0 {
                    // The same request to both instances at once...
                    let (one, two) = tokio::join!(
                        post_mood(&http, here, &token, Some(&key), &body),
                        post_mood(&http, there, &token, Some(&key), &body),
                    );
                    answers.extend([one, two]);
                } else {
                    answers.push(post_mood(&http, here, &token, Some(&key), &body).await);
                }
                // ... and retried on the other one.
                answers.push(post_mood(&http, there, &token, Some(&key), &body).await);

                let mut replays = 0;
                for answer in &answers {
                    assert_eq!(answer.status, 201, "{key}: {}", answer.body);
                    assert_eq!(answer.json(), answers[0].json(), "{key}: another answer");
                    assert_eq!(answer.header("location"), answers[0].header("location"));
                    match answer.header("idempotent-replayed") {
                        Some("true") => replays += 1,
                        None => {}
                        other => panic!("{key}: Idempotent-Replayed: {other:?}"),
                    }
                }
                let first = answers[0].json();
                keyed.insert(key, Keyed { first, replays });
                assert_eq!(replays, answers.len() - 1, "all but one answer replay");
            }
            (unkeyed, keyed)
        }));
    }
    let mut acknowledged = BTreeSet::new();
    let mut keyed = BTreeMap::new();
    for task in tasks {
        let (unkeyed, by_key) = task.await.expect("a client task");
        acknowledged.extend(unkeyed);
        keyed.extend(by_key);
    }
    for (key, answer) in &keyed {
        assert!(answer.replays >= 1, "{key} was retried");
        let id = answer.first["id"].as_str().expect("id").to_string();
        assert!(acknowledged.insert(id), "{key}: its id was given twice");
    }
    assert_eq!(acknowledged.len(), TASKS * POSTS);

    // Byte for byte: the entries, their streaks, and the streak figures.
    let (on_a, on_b) = tokio::join!(
        send(http.get(servers[0].url("/mood")).bearer_auth(&token)),
        send(http.get(servers[1].url("/mood")).bearer_auth(&token)),
    );
    assert_eq!(on_a.status, 200, "{}", on_a.body);
    assert_eq!(
        on_a.body, on_b.body,
        "both instances answer GET /mood alike"
    );
    let on_a = on_a.json();
    let entries = on_a["entries"].as_array().expect("entries");
    let stored: BTreeSet<String> = entries
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(
        entries.len(),
        TASKS * POSTS,
        "one entry per distinct request"
    );
    assert_eq!(stored, acknowledged, "exactly the acknowledged entries");
    // Every one of the last seven days has entries.
    assert_eq!(on_a["current_streak"], 7);
    assert_eq!(on_a["longest_streak"], 7);
    assert_eq!(on_a["logged_today"], true);
    let today: jiff::civil::Date = on_a["today"].as_str().unwrap().parse().unwrap();
    for entry in entries {
        let day: jiff::civil::Date = entry["local_date"].as_str().unwrap().parse().unwrap();
        // Today ends a run of seven days: six days ago has streak 1.
        let expected = 7 - (today - day).get_days();
        assert_eq!(entry["streak"], expected, "{entry}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_on_either_instance_count_towards_one_throttle() {
    let schema = fresh_schema().await;
    let servers = [
        Moodlog::serve(&schema.url, &[], &[]),
        Moodlog::serve(&schema.url, &[], &[]),
    ];
    let http = client();
    sign_up(&http, &servers[0], "carol").await;
    let wrong = json!({"username": "carol", "password": "not the password at all"});
    for attempt in 0..5 {
        let server = &servers[attempt % 2];
        let reply = send(http.post(server.url("/login")).json(&wrong)).await;
        assert_eq!(reply.status, 401, "attempt {}: {}", attempt + 1, reply.body);
    }
    let right = json!({"username": "carol", "password": PASSWORD});
    for (name, server) in [("B", &servers[1]), ("A", &servers[0])] {
        let reply = send(http.post(server.url("/login")).json(&right)).await;
        assert_eq!(reply.status, 429, "6th attempt on {name}: {}", reply.body);
        let retry_after: u64 = reply
            .header("retry-after")
            .and_then(|s| s.parse().ok())
            .expect("Retry-After in seconds");
        assert!(
            (1..=900).contains(&retry_after),
            "Retry-After {retry_after}"
        );
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL outages
// ---------------------------------------------------------------------------

/// A steady load of keyed posts from a few clients of one instance.
struct Load {
    tasks: Vec<tokio::task::JoinHandle<BTreeMap<String, String>>>,
    counts: Arc<LoadCounts>,
}

#[derive(Default)]
struct LoadCounts {
    stop: AtomicBool,
    /// Posts answered 201.
    acked: AtomicUsize,
    /// Posts answered 503 (each retried with its key).
    refused: AtomicUsize,
}

impl LoadCounts {
    fn acked(&self) -> usize {
        self.acked.load(Ordering::SeqCst)
    }

    fn refused(&self) -> usize {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Load {
    fn start(clients: usize, http: &reqwest::Client, server: &Arc<Moodlog>, token: &str) -> Self {
        let counts = Arc::new(LoadCounts::default());
        let tasks = (0..clients)
            .map(|client| {
                let (http, server) = (http.clone(), server.clone());
                let (token, counts) = (token.to_string(), counts.clone());
                tokio::spawn(
                    async move { keep_posting(&http, &server, &token, client, &counts).await },
                )
            })
            .collect();
        Self { tasks, counts }
    }

    /// Waits until `more` further posts have been acknowledged.
    async fn acknowledges(&self, more: usize) {
        let target = self.counts.acked() + more;
        poll_until(
            "writes to be acknowledged",
            Duration::from_secs(30),
            || async { self.counts.acked() >= target },
        )
        .await;
    }

    /// Waits until `more` further posts have been refused.
    async fn is_refused(&self, more: usize) {
        let target = self.counts.refused() + more;
        poll_until("writes to be refused", Duration::from_secs(30), || async {
            self.counts.refused() >= target
        })
        .await;
    }

    /// Lets each client finish its current post; returns `key -> id` of
    /// every acknowledged post.
    async fn stop(self) -> BTreeMap<String, String> {
        self.counts.stop.store(true, Ordering::SeqCst);
        let mut acknowledged = BTreeMap::new();
        for task in self.tasks {
            acknowledged.extend(task.await.expect("a load client"));
        }
        acknowledged
    }

    fn abort(self) {
        self.tasks.iter().for_each(|task| task.abort());
    }
}

/// Posts keyed moods (the note is the key) until told to stop, retrying
/// each with its key until it is acknowledged; returns `key -> id`. Every
/// other answer must be a prompt 503.
async fn keep_posting(
    http: &reqwest::Client,
    server: &Moodlog,
    token: &str,
    client: usize,
    counts: &LoadCounts,
) -> BTreeMap<String, String> {
    let mut ids = BTreeMap::new();
    for n in 0.. {
        if counts.stop.load(Ordering::SeqCst) {
            break;
        }
        let key = format!("load-{client}-{n}");
        let body = json!({"rating": 1 + n % 10, "note": key});
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            assert!(Instant::now() < give_up, "{key} never acknowledged");
            let request = mood_request(http, server, token, Some(&key), &body);
            match try_send(request).await {
                Ok(reply) if reply.status == 201 => {
                    ids.insert(key, reply.json()["id"].as_str().unwrap().to_string());
                    counts.acked.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Ok(reply) => {
                    assert_eq!(reply.status, 503, "{key}: {}", reply.body);
                    assert_answered_in_time(&reply, &key);
                    counts.refused.fetch_add(1, Ordering::SeqCst);
                }
                Err(e) => panic!("{key}: no answer: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    ids
}

/// The request timeout given to instances in outage tests, and the
/// slowest answer accepted (the timeout plus a margin for a busy machine).
const REQUEST_TIMEOUT: &str = "2s";
const ANSWER_WITHIN: Duration = Duration::from_millis(3500);

fn assert_answered_in_time(reply: &Reply, what: &str) {
    assert!(
        reply.took < ANSWER_WITHIN,
        "{what}: answered {} after {:?}",
        reply.status,
        reply.took
    );
}

/// A 503 problem that says nothing about where or what the database is.
fn assert_unavailable_problem(reply: &Reply, what: &str, secrets: &[&str]) {
    assert_eq!(reply.status, 503, "{what}: {}", reply.body);
    assert_answered_in_time(reply, what);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{what}"
    );
    let problem = reply.json();
    assert_eq!(problem["status"], 503, "{what}: {problem}");
    let lower = reply.body.to_lowercase();
    for word in [
        "select", "insert", "sqlstate", "postgres", "tcp", "os error",
    ] {
        assert!(!lower.contains(word), "{what}: {word:?} in {}", reply.body);
    }
    for secret in secrets {
        assert!(
            !reply.body.contains(secret),
            "{what}: {secret:?} in {}",
            reply.body
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_that_drops_connections_gets_503s_then_heals_without_losing_writes() {
    outages(Link::Cut, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_postgres_that_stops_answering_gets_503s_in_time_then_heals_without_losing_writes() {
    outages(Link::Stalled, 2).await;
}

/// Under a steady load of keyed posts, PostgreSQL becomes unreachable
/// (`outage`) and comes back, `cycles` times. While it is away requests
/// get prompt 503 problems and `/readyz` says so; once it is back the
/// instance heals by itself; no acknowledged write is lost or doubled.
async fn outages(outage: Link, cycles: usize) {
    const CLIENTS: usize = 3;
    let schema = fresh_schema().await;
    let proxy = PgProxy::start(host_port(&schema.url)).await;
    let url = with_host_port(&schema.url, proxy.addr);
    let server = Arc::new(Moodlog::serve(
        &url,
        &["--request-timeout", REQUEST_TIMEOUT],
        &[],
    ));
    let http = client();
    sign_up(&http, &server, "dave").await;
    let token = log_in(&http, &server, "dave").await;
    let secrets = [
        proxy.addr.to_string(),
        host_port(&schema.url),
        schema.name.clone(),
        url.clone(),
    ];
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();

    let load = Load::start(CLIENTS, &http, &server, &token);
    let mut probes = BTreeMap::new();
    for cycle in 0..cycles {
        load.acknowledges(10).await;
        proxy.set(outage).await;
        load.is_refused(CLIENTS).await;

        // All at once: in a stall each takes up to the request timeout.
        let probe = format!("probe-{cycle}");
        let body = json!({"rating": 3, "note": probe});
        let (posted, listed, ready, alive) = tokio::join!(
            post_mood(&http, &server, &token, Some(&probe), &body),
            send(http.get(server.url("/mood")).bearer_auth(&token)),
            send(http.get(server.url("/readyz"))),
            send(http.get(server.url("/healthz"))),
        );
        assert_unavailable_problem(&posted, "POST /mood", &secrets);
        assert_unavailable_problem(&listed, "GET /mood", &secrets);
        assert_unavailable_problem(&ready, "GET /readyz", &secrets);
        assert_eq!(
            alive.status, 200,
            "GET /healthz in an outage: {}",
            alive.body
        );
        assert_answered_in_time(&alive, "GET /healthz");

        proxy.restore().await;
        let healed = poll_until("/readyz to answer 200", Duration::from_secs(15), || async {
            try_send(http.get(server.url("/readyz")))
                .await
                .is_ok_and(|r| r.status == 200)
        })
        .await;
        let reply = post_mood(&http, &server, &token, Some(&probe), &body).await;
        assert_eq!(
            reply.status, 201,
            "{probe} after the outage: {}",
            reply.body
        );
        assert_eq!(
            reply.header("idempotent-replayed"),
            None,
            "{probe} failed before"
        );
        probes.insert(probe, reply.json()["id"].as_str().expect("id").to_string());
        eprintln!(
            "outage {cycle}: ready {healed:?} after the restore; {} writes acknowledged, \
             {} refused so far",
            load.counts.acked(),
            load.counts.refused(),
        );
    }
    let mut acknowledged = load.stop().await;
    acknowledged.extend(probes);

    // Each request's note is its key.
    let listed = moods(&http, &server, &token).await;
    let mut ids_by_key: HashMap<String, Vec<String>> = HashMap::new();
    for entry in listed["entries"].as_array().expect("entries") {
        ids_by_key
            .entry(entry["note"].as_str().expect("a note").to_string())
            .or_default()
            .push(entry["id"].as_str().expect("id").to_string());
    }
    for (key, id) in &acknowledged {
        let ids = ids_by_key.get(key).map_or(&[][..], Vec::as_slice);
        assert_eq!(
            ids,
            [id.as_str()],
            "{key}: acknowledged as {id}, stored as {ids:?}"
        );
    }
    let unacknowledged: Vec<_> = ids_by_key
        .iter()
        .filter(|(key, _)| !acknowledged.contains_key(*key))
        .collect();
    assert!(
        unacknowledged.is_empty(),
        "never acknowledged: {unacknowledged:?}"
    );
}

// ---------------------------------------------------------------------------
// Connections lost silently
// ---------------------------------------------------------------------------

/// A client of the test server itself, to look at `pg_stat_activity`.
async fn pg_admin() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&postgres_support::base_url(), tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
}

/// Backends of `application_name` in a transaction that holds row locks
/// or wrote rows, waiting for a client that will never speak again.
async fn stranded_transactions(admin: &tokio_postgres::Client, application_name: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = $1 AND state = 'idle in transaction'
               AND backend_xid IS NOT NULL",
            &[&application_name],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Each connection lost silently costs at most one request (503 after the
/// request timeout); then the pool works on new ones.
#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_lost_silently_are_replaced_once_postgres_answers() {
    let schema = fresh_schema().await;
    let proxy = PgProxy::start(host_port(&schema.url)).await;
    let server = Moodlog::serve(
        &with_host_port(&schema.url, proxy.addr),
        &["--request-timeout", REQUEST_TIMEOUT],
        &[],
    );
    let http = client();
    sign_up(&http, &server, "gina").await;
    let token = log_in(&http, &server, "gina").await;
    // A few connections in the pool, all idle.
    let rating = |n: u8| json!({"rating": n});
    let (one, two, three) = tokio::join!(
        send(mood_request(&http, &server, &token, None, &rating(1))),
        send(mood_request(&http, &server, &token, None, &rating(2))),
        send(mood_request(&http, &server, &token, None, &rating(3))),
    );
    for reply in [one, two, three] {
        assert_eq!(reply.status, 201, "{}", reply.body);
    }

    // The network drops every open connection without a word to either
    // end, then works again for new ones.
    proxy.set(Link::BlackHole).await;
    proxy.restore().await;

    let body = json!({"rating": 9, "note": "after the network blip"});
    // At most one timed-out request per pooled connection.
    let healed = poll_until("writes to succeed again", Duration::from_secs(15), || {
        let request = mood_request(&http, &server, &token, Some("after-blip"), &body);
        async move {
            let reply = send(request).await;
            assert_answered_in_time(&reply, "POST /mood");
            eprintln!("POST /mood: {} after {:?}", reply.status, reply.took);
            reply.status == 201
        }
    })
    .await;
    eprintln!("writes work again {healed:?} after the blip");
    let reply = send(http.get(server.url("/readyz"))).await;
    assert_eq!(reply.status, 200, "/readyz: {}", reply.body);
}

/// Instance A loses its network (or freezes) in the middle of one of
/// hugo's writes: PostgreSQL still holds that transaction, and its lock on
/// hugo's row, for a client that will never come back. Instance B must be
/// able to write for hugo again after a bounded time.
#[tokio::test(flavor = "multi_thread")]
async fn an_instance_cut_off_mid_transaction_does_not_lock_the_user_out_elsewhere() {
    const WRITERS: usize = 3;
    let schema = fresh_schema().await;
    let admin = pg_admin().await;
    let proxy = PgProxy::start(host_port(&schema.url)).await;
    // Names this test's sessions of instance A in pg_stat_activity.
    let a_name = format!("{}_a", schema.name);
    let a_url = format!(
        "{}&application_name={a_name}",
        with_host_port(&schema.url, proxy.addr)
    );
    let timeout = ["--request-timeout", REQUEST_TIMEOUT];
    let a = Arc::new(Moodlog::serve(&a_url, &timeout, &[]));
    let b = Moodlog::serve(&schema.url, &timeout, &[]);
    let http = client();
    sign_up(&http, &b, "hugo").await;
    let token = log_in(&http, &b, "hugo").await;

    // Writers on A keep one of hugo's transactions open nearly all the
    // time; A's network is lost silently until one is caught open.
    let load = Load::start(WRITERS, &http, &a, &token);
    let mut caught = false;
    for _attempt in 0..10 {
        load.acknowledges(3).await;
        proxy.set(Link::BlackHole).await;
        let started = Instant::now();
        while !caught && started.elapsed() < Duration::from_secs(1) {
            caught = stranded_transactions(&admin, &a_name).await > 0;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if caught {
            break;
        }
        proxy.cut().await; // closes the held connections: PostgreSQL ends them
        proxy.restore().await;
    }
    assert!(caught, "no transaction of A was caught open");
    // A's clients wait for A, which is cut off: they are done.
    load.abort();

    // B reaches PostgreSQL fine: other users write at once...
    sign_up(&http, &b, "iris").await;
    let iris = log_in(&http, &b, "iris").await;
    let reply = post_mood(&http, &b, &iris, None, &json!({"rating": 7})).await;
    assert_eq!(reply.status, 201, "iris through B: {}", reply.body);
    // ... and hugo must be able to, again, within a few statement timeouts.
    let body = json!({"rating": 5, "note": "through B"});
    let written = poll_until("a write through B", Duration::from_secs(20), || {
        let request = mood_request(&http, &b, &token, Some("through-b"), &body);
        async move {
            let reply = send(request).await;
            eprintln!(
                "POST /mood through B: {} after {:?}",
                reply.status, reply.took
            );
            reply.status == 201
        }
    })
    .await;
    eprintln!("B wrote after {written:?}");
}

// ---------------------------------------------------------------------------
// Secrets in the database URL
// ---------------------------------------------------------------------------

const DB_PASSWORD: &str = "pw-must-not-leak-42";

#[tokio::test(flavor = "multi_thread")]
async fn the_database_password_never_appears_in_the_output() {
    let schema = fresh_schema().await;
    let url = with_password(&schema.url, DB_PASSWORD);
    let mut server = Moodlog::serve(&url, &[], &[("RUST_LOG", "trace")]);
    let http = client();
    sign_up(&http, &server, "erin").await;
    let token = log_in(&http, &server, "erin").await;
    let reply = post_mood(&http, &server, &token, Some("k1"), &json!({"rating": 6})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    moods(&http, &server, &token).await;
    for path in ["/readyz", "/metrics"] {
        let reply = send(http.get(server.url(path))).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
    }
    server.terminate();
    let (status, output) = server.wait_exit(Duration::from_secs(15));
    assert!(
        status.success(),
        "exit status {status:?}; output:\n{output}"
    );
    assert!(output.contains("POST"), "trace logs expected:\n{output}");
    assert!(
        !output.contains(DB_PASSWORD),
        "the password leaked:\n{output}"
    );
}

#[test]
fn an_unreachable_database_fails_fast_without_showing_the_password() {
    let url = with_password(
        &with_host_port(
            &postgres_support::base_url(),
            "127.0.0.1:1".parse().unwrap(),
        ),
        DB_PASSWORD,
    );
    let serve = ["serve", "--bind", "127.0.0.1:0", "--database-url", &url];
    let migrate = ["migrate", "--database-url", &url];
    for args in [&serve[..], &migrate[..]] {
        let (status, output, took) = run_to_exit(args, Duration::from_secs(15));
        let command = args[0];
        assert!(!status.success(), "{command} succeeded:\n{output}");
        assert!(took < Duration::from_secs(5), "{command} took {took:?}");
        assert!(
            output.to_lowercase().contains("cannot connect"),
            "{command}: no clear message:\n{output}"
        );
        assert!(!output.contains(DB_PASSWORD), "{command} leaked:\n{output}");
    }
}

// ---------------------------------------------------------------------------
// Migrations
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn migrate_applies_the_migrations_once() {
    let schema = fresh_schema().await;
    let patience = Duration::from_secs(30);
    let (status, first, _) = run_to_exit(&["migrate", "--database-url", &schema.url], patience);
    assert!(status.success(), "{first}");
    let applied = first
        .lines()
        .find(|l| l.starts_with("applied "))
        .unwrap_or("");
    assert!(
        !applied.is_empty() && !applied.starts_with("applied 0 "),
        "first run:\n{first}"
    );
    let (status, second, _) = run_to_exit(&["migrate", "--database-url", &schema.url], patience);
    assert!(status.success(), "{second}");
    assert!(
        second
            .lines()
            .any(|l| l.starts_with("applied 0 migration(s)")),
        "second run:\n{second}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn instances_starting_together_on_a_fresh_schema_both_come_up() {
    let schema = fresh_schema().await;
    let mut a = Moodlog::spawn_serve(&schema.url, &[], &[]);
    let mut b = Moodlog::spawn_serve(&schema.url, &[], &[]);
    a.ready();
    b.ready();
    let http = client();
    sign_up(&http, &a, "frank").await;
    let token = log_in(&http, &b, "frank").await;
    let reply = post_mood(&http, &a, &token, None, &json!({"rating": 8})).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(moods(&http, &b, &token).await["entries"][0], {
        let mut entry = reply.json();
        entry.as_object_mut().unwrap().remove("current_streak");
        entry
    });
    let (status, output, _) = run_to_exit(
        &["migrate", "--database-url", &schema.url],
        Duration::from_secs(30),
    );
    assert!(status.success(), "{output}");
    assert!(
        output
            .lines()
            .any(|l| l.starts_with("applied 0 migration(s)")),
        "the migrations ran once:\n{output}"
    );
}
