//! Crash tests: no acknowledged write is lost, or made twice, when moodlog
//! or the PostgreSQL under it is killed with SIGKILL.
//!
//! Clients post keyed moods (each note is its key) and delete some of them,
//! retrying every request that got no answer, or a 503, with the same key
//! and body until it is answered. Meanwhile the server is killed at random
//! moments (some while it starts: opening, recovering or migrating its
//! database) and started again on the same database. Afterwards every
//! acknowledged entry must be stored exactly once, every acknowledged
//! deletion must hold, every key must replay its first answer, and the
//! database must be intact and agree with itself (per-day counts, runs of
//! days).
//!
//! - `MOODLOG_CRASH_ROUNDS` (default 4): kills of moodlog on SQLite;
//!   `MOODLOG_CRASH_PG_ROUNDS` (default 3): kills of moodlog on PostgreSQL;
//!   `MOODLOG_CRASH_PG_KILLS` (default 2): kills of a throw-away PostgreSQL.
//! - `MOODLOG_CRASH_SEED`: replays a failed run's random choices (the seed
//!   is printed when a test fails; thread timing still varies).
//! - `MOODLOG_CRASH_AMCHECK=1`: also checks the PostgreSQL tables and
//!   indexes with `pg_amcheck`.
//!
//! Each test prints one `crash summary:` line with its figures;
//! `scripts/crash-test` runs the long version and collects them.

#[path = "common/postgres.rs"]
mod postgres_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::{Duration, Instant};

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use moodlog::domain::{Run, Streaks};
use postgres_support::fresh_schema;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::task::block_in_place;

const PASSWORD: &str = "violet tugboat simmers quietly";
/// Accounts, and clients posting for them (two clients per account, so
/// that one user's writes race each other too).
const USERS: usize = 4;
const CLIENTS: usize = 8;
/// Longest a `moodlog` process may take to print its listening line.
const START_PATIENCE: Duration = Duration::from_secs(30);
/// Longest one key may wait to be acknowledged, kills and restarts included.
const KEY_PATIENCE: Duration = Duration::from_secs(120);
/// Longest the clients may go without an acknowledgement while the server
/// (and its database) is up.
const PROGRESS_PATIENCE: Duration = Duration::from_secs(60);
/// Connections per moodlog: tests run in parallel against one server.
const POOL_SIZE: &str = "4";
/// The request timeout of moodlog while its PostgreSQL is killed, and the
/// slowest 503 accepted then: the timeout plus a wide margin for a busy
/// two-core machine. What matters is that moodlog answers, not how fast.
const REQUEST_TIMEOUT: &str = "2s";
const ANSWER_WITHIN: Duration = Duration::from_secs(8);
/// Entries go back this many days, one third each: a dense stretch (long
/// runs of days), a medium one (runs joining all the time) and a sparse
/// one (lone days, which a deletion uncounts), however long the run.
const HISTORY_DAYS: [u64; 3] = [60, 1_000, 15_000];
const ZONES: [&str; 4] = ["UTC", "Europe/Paris", "Asia/Tokyo", "America/Los_Angeles"];

// ---------------------------------------------------------------------------
// Settings, seed and random choices
// ---------------------------------------------------------------------------

fn setting(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a count, not {text:?}")),
        Err(_) => default,
    }
}

/// `MOODLOG_CRASH_SEED`, or a fresh one; reported if the test fails.
fn seed(test: &'static str) -> SeedReport {
    let seed = match std::env::var("MOODLOG_CRASH_SEED") {
        Ok(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("MOODLOG_CRASH_SEED must be an integer, not {text:?}")),
        Err(_) => {
            let mut bytes = [0; 8];
            getrandom::fill(&mut bytes).expect("OS randomness");
            u64::from_le_bytes(bytes)
        }
    };
    SeedReport { test, seed }
}

struct SeedReport {
    test: &'static str,
    seed: u64,
}

impl Drop for SeedReport {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "{} failed; to replay its choices: MOODLOG_CRASH_SEED={}",
                self.test, self.seed
            );
        }
    }
}

/// xorshift64*: reproducible choices from a seed, without a dependency.
struct Rng(u64);

impl Rng {
    /// The generator of one `stream` (a client, the killer) of a run.
    fn new(seed: u64, stream: u64) -> Self {
        // splitmix64, so that nearby seeds and streams share no state.
        let mut z = seed ^ stream.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    fn millis(&mut self, range: Range<u64>) -> Duration {
        Duration::from_millis(range.start + self.below(range.end - range.start))
    }
}

// ---------------------------------------------------------------------------
// moodlog processes
// ---------------------------------------------------------------------------

/// A `moodlog serve` on a free port of 127.0.0.1; killed when dropped.
struct Moodlog {
    child: Child,
    output: Arc<Mutex<String>>,
    base: String,
}

impl Moodlog {
    /// Starts it and waits for its listening line (blocking).
    fn serve(database_url: &str, extra_args: &[&str]) -> Self {
        let (mut child, output, listening) = Self::spawn(database_url, extra_args);
        let Ok(addr) = listening.recv_timeout(START_PATIENCE) else {
            let _ = child.kill();
            let status = child.wait();
            let output = output.lock().expect("output lock").clone();
            panic!("moodlog did not start ({status:?}); output:\n{output}");
        };
        Self {
            child,
            output,
            base: format!("http://{addr}"),
        }
    }

    /// Starts it and SIGKILLs it `after` that, ready or not: in the middle
    /// of opening (and recovering) its database, or of its migrations.
    fn kill_while_starting(database_url: &str, extra_args: &[&str], after: Duration) {
        let (mut child, output, _) = Self::spawn(database_url, extra_args);
        std::thread::sleep(after);
        child.kill().expect("SIGKILL moodlog");
        let status = child.wait().expect("wait for moodlog");
        assert_eq!(
            status.signal(),
            Some(9),
            "moodlog exited by itself while starting; output:\n{}",
            output.lock().expect("output lock")
        );
    }

    /// The process, its output so far, and where its address will arrive.
    fn spawn(
        database_url: &str,
        extra_args: &[&str],
    ) -> (Child, Arc<Mutex<String>>, mpsc::Receiver<String>) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_moodlog"))
            .args(["serve", "--bind", "127.0.0.1:0", "--signup-limit", "0"])
            .args(["--database-url", database_url])
            .args(extra_args)
            .env_remove("MOODLOG_DATABASE_URL")
            // Thousands of requests: their log lines would only cost time.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moodlog starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (found, listening) = mpsc::channel();
        collect(child.stdout.take().expect("stdout"), &output, Some(found));
        collect(child.stderr.take().expect("stderr"), &output, None);
        (child, output, listening)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL, and waits for the process to be gone.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL moodlog");
        let status = self.child.wait().expect("wait for moodlog");
        assert_eq!(
            status.signal(),
            Some(9),
            "moodlog exited by itself before it was killed; output:\n{}",
            self.output.lock().expect("output lock")
        );
    }
}

impl Drop for Moodlog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies a pipe into `output` from a thread; the first line carrying
/// `listening on http://` also goes to `found`.
fn collect(
    pipe: impl Read + Send + 'static,
    output: &Arc<Mutex<String>>,
    mut found: Option<mpsc::Sender<String>>,
) {
    let output = output.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let Some(addr) = line.split("listening on http://").nth(1)
                && let Some(found) = found.take()
            {
                let _ = found.send(addr.trim().to_string());
            }
            let mut output = output.lock().expect("output lock");
            output.push_str(&line);
            output.push('\n');
        }
    });
}

// ---------------------------------------------------------------------------
// A throw-away PostgreSQL cluster
// ---------------------------------------------------------------------------

/// A PostgreSQL cluster of one test's own, in a temp dir, on a free port,
/// run as the `postgres` OS user: the test that kills PostgreSQL kills this
/// one, never a server others use. Stopped, and its files removed, when
/// dropped (a panicking test included).
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// The postmaster, while it runs.
    running: Option<Child>,
}

impl Cluster {
    /// `initdb` into a fresh temp dir (blocking).
    fn init() -> Self {
        let bin = pg_bin().unwrap_or_else(|| {
            panic!(
                "this test runs a PostgreSQL cluster of its own, but no initdb was found \
                 in /usr/lib/postgresql/*/bin (install Debian's postgresql package, or name \
                 the directory in MOODLOG_TEST_PG_BIN)"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("moodlog-crash-pg")
            .tempdir()
            .expect("a temp dir");
        run_ok(Command::new("chown").arg("postgres:").arg(dir.path()));
        run_ok(
            as_postgres(&bin.join("initdb"))
                .arg("--pgdata")
                .arg(dir.path().join("data"))
                .args(["--username=postgres", "--auth=trust", "--encoding=UTF8"])
                // Only skips initdb's own final fsync; the server fsyncs.
                .args(["--no-locale", "--no-sync"]),
        );
        Self {
            dir,
            bin,
            port: free_port(),
            running: None,
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }

    /// Starts the postmaster and waits until it accepts connections,
    /// crash recovery included.
    async fn start(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log())
                .expect("the cluster's log");
            let (uid, gid) = postgres_ids();
            // The postmaster is this process's child (not runuser's): it is
            // killed and reaped here, and no zombie keeps its lock file.
            let mut postmaster = Command::new(self.bin.join("postgres"));
            postmaster
                .uid(uid)
                .gid(gid)
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-p", &self.port.to_string(), "-k"])
                .arg(self.dir.path())
                .args(["-c", "listen_addresses=127.0.0.1"])
                // Durable commits, whatever the packaged defaults say.
                .args(["-c", "fsync=on", "-c", "synchronous_commit=on"])
                .args(["-c", "full_page_writes=on", "-c", "max_connections=40"])
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log);
            let mut child = postmaster.spawn().expect("postgres starts");
            loop {
                if child.try_wait().expect("try_wait").is_some() {
                    // Typically: the killed server's processes still hold
                    // its shared memory. Try again shortly.
                    assert!(
                        Instant::now() < deadline,
                        "PostgreSQL did not start; its log:\n{}",
                        self.log_text()
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
                if pg_answers(&self.url()).await {
                    self.running = Some(child);
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "PostgreSQL did not answer within a minute; its log:\n{}",
                        self.log_text()
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// SIGKILLs the postmaster; with `backends`, every process it started
    /// too, in the same instant (otherwise they notice its death and exit
    /// by themselves). Returns once all of them are gone (blocking).
    fn kill(&mut self, backends: bool) {
        let mut postmaster = self.running.take().expect("the cluster runs");
        let pid = postmaster.id();
        // Stopped, it forks no new process while its children are listed.
        signal("STOP", &[pid]);
        let children = children_of(pid);
        let mut victims = vec![pid];
        if backends {
            victims.extend(&children);
        }
        signal("KILL", &victims);
        postmaster.wait().expect("wait for the postmaster");
        let deadline = Instant::now() + Duration::from_secs(30);
        while children.iter().any(|&pid| alive(pid)) {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL's processes outlived its postmaster by 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// An immediate shutdown (the postmaster ends its children), then the files
/// go with the temp dir.
impl Drop for Cluster {
    fn drop(&mut self) {
        let Some(mut postmaster) = self.running.take() else {
            return;
        };
        let pid = postmaster.id();
        let children = children_of(pid);
        signal("QUIT", &[pid]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while postmaster.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = postmaster.kill();
        let _ = postmaster.wait();
        let left: Vec<u32> = children.into_iter().filter(|&pid| alive(pid)).collect();
        if !left.is_empty() {
            signal("KILL", &left);
        }
    }
}

/// The uid and gid of the `postgres` OS user.
fn postgres_ids() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let output = run_ok(Command::new("id").args([flag, "postgres"]));
        let text = String::from_utf8_lossy(&output.stdout);
        text.trim().parse().expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

/// The newest PostgreSQL's binaries: `MOODLOG_TEST_PG_BIN`, else Debian's
/// `/usr/lib/postgresql/VERSION/bin`.
fn pg_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MOODLOG_TEST_PG_BIN") {
        return Some(dir.into());
    }
    std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path())))
        .filter(|(_, path)| path.join("bin/initdb").exists())
        .max()
        .map(|(_, path)| path.join("bin"))
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

fn run_ok(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?} cannot run: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn signal(name: &str, pids: &[u32]) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .args(pids.iter().map(u32::to_string))
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pids:?} failed");
}

/// Processes whose parent is `parent`, from /proc.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| proc_stat(pid).is_some_and(|(_, ppid)| ppid == parent))
        .collect()
}

/// Whether `pid` still runs (a zombie has stopped running).
fn alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z')
}

/// State and parent of a process, from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name, in parentheses, may hold anything: skip past it.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

async fn pg_answers(url: &str) -> bool {
    let attempt = async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        client.simple_query("SELECT 1").await
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(3), attempt).await,
        Ok(Ok(_))
    )
}

async fn pg_client(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to PostgreSQL: {e}"));
    tokio::spawn(connection);
    client
}

/// `pg_amcheck` on the tables and indexes of `database` (a connection
/// string), limited to `schema` if given, when `MOODLOG_CRASH_AMCHECK=1`.
/// `--install-missing` installs the amcheck extension if the database
/// lacks it. Returns whether it ran.
fn amcheck(database: &str, schema: Option<&str>) -> bool {
    if std::env::var("MOODLOG_CRASH_AMCHECK").as_deref() != Ok("1") {
        return false;
    }
    let bin = pg_bin().expect("pg_amcheck needs PostgreSQL's binaries");
    let mut command = Command::new(bin.join("pg_amcheck"));
    command.args(["--install-missing", "--heapallindexed", "--parent-check"]);
    if let Some(schema) = schema {
        command.args(["--schema", schema]);
    }
    run_ok(command.arg(database));
    true
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("HTTP client")
}

/// A response read to the end, with how long it took.
struct Reply {
    status: StatusCode,
    replayed: bool,
    body: String,
    took: Duration,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

async fn try_send(request: reqwest::RequestBuilder) -> reqwest::Result<Reply> {
    let started = Instant::now();
    let response = request.send().await?;
    let status = response.status();
    let replayed = match response.headers().get("idempotent-replayed") {
        None => false,
        Some(value) if value == "true" => true,
        Some(value) => panic!("Idempotent-Replayed: {value:?}"),
    };
    let body = response.text().await?;
    Ok(Reply {
        status,
        replayed,
        body,
        took: started.elapsed(),
    })
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    try_send(request).await.expect("the server answers")
}

/// Signs up and logs in `USERS` accounts; returns their tokens.
async fn accounts(http: &reqwest::Client, server: &Moodlog) -> Vec<String> {
    let mut tokens = Vec::new();
    for user in 0..USERS {
        let credentials = json!({"username": username(user), "password": PASSWORD});
        let mut signup = credentials.clone();
        signup["timezone"] = ZONES[user % ZONES.len()].into();
        let reply = send(http.post(server.url("/users")).json(&signup)).await;
        assert_eq!(reply.status, 201, "sign-up: {}", reply.body);
        let reply = send(http.post(server.url("/login")).json(&credentials)).await;
        assert_eq!(reply.status, 200, "login: {}", reply.body);
        tokens.push(reply.json()["token"].as_str().expect("a token").to_string());
    }
    tokens
}

fn username(user: usize) -> String {
    format!("crash{user}")
}

/// Calls `probe` until it returns true; panics with `what` after `patience`.
async fn poll_until<F, Fut>(what: &str, patience: Duration, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
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

// ---------------------------------------------------------------------------
// The load: clients posting keyed moods, retrying until answered
// ---------------------------------------------------------------------------

/// What is killed, which decides what a client may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// moodlog itself: a request may get no answer at all.
    Moodlog,
    /// Only its database: moodlog must answer every request, with a prompt
    /// 503 while the database is away.
    Database,
}

/// The base URL of the running server, or none while it is down (so that
/// no request goes to a port another process may have taken since).
#[derive(Clone, Default)]
struct Target(Arc<RwLock<Option<String>>>);

impl Target {
    fn set(&self, base: Option<&str>) {
        *self.0.write().expect("target lock") = base.map(str::to_string);
    }

    async fn wait(&self) -> String {
        let deadline = Instant::now() + KEY_PATIENCE;
        loop {
            if let Some(base) = self.0.read().expect("target lock").clone() {
                return base;
            }
            assert!(Instant::now() < deadline, "the server never came back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[derive(Default)]
struct Counts {
    stop: AtomicBool,
    /// Posts acknowledged (answered 201 for the first time).
    acked: AtomicUsize,
    /// Deletions acknowledged.
    deleted: AtomicUsize,
    /// Requests that got no answer (the server died under them, or was down).
    unanswered: AtomicUsize,
    /// Requests answered 503.
    refused: AtomicUsize,
    /// Slowest 503, in milliseconds.
    slowest_refusal_ms: AtomicUsize,
    /// Writes that were made but whose answer was lost: their retry was
    /// answered by a replay (a post) or a 404 (a deletion).
    lost_answers: AtomicUsize,
    /// Replays whose answer was compared with the first answer.
    replays: AtomicUsize,
}

impl Counts {
    fn get(counter: &AtomicUsize) -> usize {
        counter.load(Ordering::SeqCst)
    }

    fn add(counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
    }

    fn retries(&self) -> usize {
        Self::get(&self.unanswered) + Self::get(&self.refused)
    }

    /// Waits until `more` further posts are acknowledged.
    async fn acknowledge(&self, more: usize) {
        let target = Self::get(&self.acked) + more;
        poll_until("writes to be acknowledged", PROGRESS_PATIENCE, || async {
            Self::get(&self.acked) >= target
        })
        .await;
    }

    /// Waits until `more` further requests are refused.
    async fn refuse(&self, more: usize) {
        let target = Self::get(&self.refused) + more;
        poll_until("requests to be refused", PROGRESS_PATIENCE, || async {
            Self::get(&self.refused) >= target
        })
        .await;
    }
}

/// One acknowledged post.
#[derive(Debug, Clone)]
struct Posted {
    user: usize,
    body: Value,
    /// The body of the first 201.
    answer: Value,
    deleted: bool,
}

impl Posted {
    fn id(&self) -> i64 {
        let id = self.answer["id"].as_str().expect("an id");
        id.parse().expect("a decimal id")
    }
}

/// Every acknowledged post, by key.
type Ledger = BTreeMap<String, Posted>;

/// Everything a client needs to post for one user.
#[derive(Clone)]
struct Poster {
    http: reqwest::Client,
    target: Target,
    tokens: Arc<Vec<String>>,
    counts: Arc<Counts>,
    fault: Fault,
}

impl Poster {
    /// Sends one request to the current server; `None` if it got no answer.
    async fn attempt(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
        what: &str,
    ) -> Option<Reply> {
        let base = self.target.wait().await;
        match try_send(build(&base)).await {
            Ok(reply) => {
                if reply.status == StatusCode::SERVICE_UNAVAILABLE {
                    Counts::add(&self.counts.refused);
                    let took = usize::try_from(reply.took.as_millis()).unwrap_or(usize::MAX);
                    self.counts
                        .slowest_refusal_ms
                        .fetch_max(took, Ordering::SeqCst);
                    if self.fault == Fault::Database {
                        assert!(
                            reply.took < ANSWER_WITHIN,
                            "{what}: 503 after {:?}",
                            reply.took
                        );
                    }
                }
                Some(reply)
            }
            Err(e) => {
                assert!(
                    self.fault == Fault::Moodlog,
                    "{what}: moodlog gave no answer: {e}"
                );
                Counts::add(&self.counts.unanswered);
                None
            }
        }
    }

    /// Posts `body` under `key` until it is answered 201; returns that
    /// answer and how many requests it took.
    async fn post(&self, user: usize, key: &str, body: &Value) -> (Reply, usize) {
        let token = &self.tokens[user];
        let give_up = Instant::now() + KEY_PATIENCE;
        for attempts in 1.. {
            let request = |base: &str| {
                self.http
                    .post(format!("{base}/mood"))
                    .bearer_auth(token)
                    .header("idempotency-key", key)
                    .json(body)
            };
            match self.attempt(request, key).await {
                Some(reply) if reply.status == StatusCode::CREATED => return (reply, attempts),
                Some(reply) if reply.status == StatusCode::SERVICE_UNAVAILABLE => {}
                Some(reply) => panic!("{key}: answered {}: {}", reply.status, reply.body),
                None => {}
            }
            assert!(
                Instant::now() < give_up,
                "{key}: not acknowledged within {KEY_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        unreachable!()
    }

    /// Deletes the entry `id` until that is acknowledged.
    async fn delete(&self, user: usize, key: &str, id: i64) {
        let token = &self.tokens[user];
        let give_up = Instant::now() + KEY_PATIENCE;
        for attempts in 1.. {
            let request = |base: &str| {
                self.http
                    .delete(format!("{base}/mood/{id}"))
                    .bearer_auth(token)
            };
            match self.attempt(request, key).await {
                Some(reply) if reply.status == StatusCode::NO_CONTENT => break,
                // A 404 to a retry: an earlier request deleted it.
                Some(reply) if reply.status == StatusCode::NOT_FOUND && attempts > 1 => {
                    Counts::add(&self.counts.lost_answers);
                    break;
                }
                Some(reply) if reply.status == StatusCode::SERVICE_UNAVAILABLE => {}
                Some(reply) => panic!("deleting {key}: answered {}: {}", reply.status, reply.body),
                None => {}
            }
            assert!(
                Instant::now() < give_up,
                "deleting {key}: not acknowledged within {KEY_PATIENCE:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Counts::add(&self.counts.deleted);
    }

    /// Posts `key` again and checks that the first answer is replayed.
    async fn check_replay(&self, key: &str, posted: &Posted) {
        let (again, _) = self.post(posted.user, key, &posted.body).await;
        assert!(again.replayed, "{key} was stored again: {}", again.body);
        assert_eq!(again.json(), posted.answer, "{key}: the replay differs");
        Counts::add(&self.counts.replays);
    }

    /// Client `client` of user `client % USERS`: posts keyed moods until
    /// told to stop, replays some keys and deletes some entries.
    async fn keep_posting(self, client: usize, mut rng: Rng) -> Ledger {
        let user = client % USERS;
        let mut ledger = Ledger::new();
        for n in 0.. {
            if self.counts.stop.load(Ordering::SeqCst) {
                break;
            }
            let key = format!("crash-{client}-{n}");
            let days = HISTORY_DAYS[rng.below(HISTORY_DAYS.len() as u64) as usize];
            let ago = rng.below(days * 86_400);
            let body = json!({
                "rating": 1 + rng.below(10),
                "note": key,
                "tags": [format!("client-{client}")],
                "recorded_at": (Timestamp::now() - SignedDuration::from_secs(ago as i64)).to_string(),
                "timezone": ZONES[rng.below(ZONES.len() as u64) as usize],
            });
            let (reply, attempts) = self.post(user, &key, &body).await;
            if reply.replayed {
                // Only a retry can find its write already made.
                assert!(attempts > 1, "{key}: a first request answered as a replay");
                Counts::add(&self.counts.lost_answers);
            }
            Counts::add(&self.counts.acked);
            let mut posted = Posted {
                user,
                body,
                answer: reply.json(),
                deleted: false,
            };
            if rng.one_in(4) {
                self.check_replay(&key, &posted).await;
            }
            if rng.one_in(8) {
                self.delete(user, &key, posted.id()).await;
                posted.deleted = true;
            }
            ledger.insert(key, posted);
        }
        ledger
    }
}

/// The clients at work, and what the run has done so far.
struct Load {
    poster: Poster,
    tasks: Vec<tokio::task::JoinHandle<Ledger>>,
}

impl Load {
    fn start(poster: &Poster, seed: u64) -> Self {
        let tasks = (0..CLIENTS)
            .map(|client| {
                let rng = Rng::new(seed, 1 + client as u64);
                tokio::spawn(poster.clone().keep_posting(client, rng))
            })
            .collect();
        Self {
            poster: poster.clone(),
            tasks,
        }
    }

    fn counts(&self) -> &Counts {
        &self.poster.counts
    }

    /// Lets each client finish its current key; returns every acknowledged post.
    async fn stop(self) -> Ledger {
        self.poster.counts.stop.store(true, Ordering::SeqCst);
        let mut ledger = Ledger::new();
        for task in self.tasks {
            ledger.extend(task.await.expect("a client"));
        }
        ledger
    }
}

// ---------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------

/// Through the API: each user's `GET /mood` holds exactly their acknowledged
/// entries that were not deleted, once each, with streaks that agree with
/// their days; then every key, deleted entries' included, replays its first
/// answer.
async fn check_over_http(poster: &Poster, server: &Moodlog, ledger: &Ledger) {
    for user in 0..USERS {
        let reply = send(
            poster
                .http
                .get(server.url("/mood"))
                .bearer_auth(&poster.tokens[user]),
        )
        .await;
        assert_eq!(reply.status, 200, "GET /mood: {}", reply.body);
        let list = reply.json();
        let entries = list["entries"].as_array().expect("entries");
        let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut days = Vec::new();
        for entry in entries {
            let note = entry["note"].as_str().expect("a note").to_string();
            stored
                .entry(note)
                .or_default()
                .push(entry["id"].as_str().expect("an id").to_string());
            days.push(date(entry["local_date"].as_str().expect("a local_date")));
        }
        let expected: BTreeMap<String, Vec<String>> = ledger
            .iter()
            .filter(|(_, p)| p.user == user && !p.deleted)
            .map(|(key, p)| (key.clone(), vec![p.id().to_string()]))
            .collect();
        assert_eq!(
            entries.len(),
            expected.len(),
            "{}: entries stored vs acknowledged and not deleted",
            username(user)
        );
        assert_eq!(stored, expected, "{}: entries by key", username(user));

        let streaks = Streaks::from_days(days);
        for entry in entries {
            let day = date(entry["local_date"].as_str().expect("a local_date"));
            assert_eq!(entry["streak"], streaks.streak_on(day), "{entry}");
        }
        assert_eq!(
            list["longest_streak"],
            streaks.longest(),
            "{}",
            username(user)
        );
    }

    let keys: Vec<(String, Posted)> = ledger.iter().map(|(k, p)| (k.clone(), p.clone())).collect();
    let chunk = keys.len().div_ceil(CLIENTS).max(1);
    let mut tasks = Vec::new();
    for part in keys.chunks(chunk) {
        let (poster, part) = (poster.clone(), part.to_vec());
        tasks.push(tokio::spawn(async move {
            for (key, posted) in &part {
                poster.check_replay(key, posted).await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("a replaying client");
    }
}

fn date(text: &str) -> Date {
    text.parse()
        .unwrap_or_else(|e| panic!("not a date ({e}): {text}"))
}

/// What the database holds, read straight from its tables. Dates are
/// `YYYY-MM-DD`.
#[derive(Default)]
struct Snapshot {
    /// id -> username
    users: BTreeMap<i64, String>,
    /// (user id, entry id, local date, note)
    entries: Vec<(i64, i64, String, Option<String>)>,
    /// (user id, local date) -> the stored count of entries
    days: BTreeMap<(i64, String), i64>,
    /// (user id, first day, last day)
    runs: Vec<(i64, String, String)>,
    /// key -> (user id, the entry id of the stored answer)
    keys: BTreeMap<String, (i64, Option<i64>)>,
}

/// Figures of a checked snapshot.
struct Checked {
    entries: usize,
    days: usize,
    runs: usize,
}

/// The database agrees with itself (per-day counts, runs of days) and
/// with what was acknowledged (exactly the live entries, one per key, and
/// every key's stored answer).
fn check_snapshot(snapshot: &Snapshot, ledger: &Ledger) -> Checked {
    let user_ids: BTreeMap<&str, i64> = snapshot
        .users
        .iter()
        .map(|(id, name)| (name.as_str(), *id))
        .collect();
    let user_id = |user: usize| -> i64 {
        *user_ids
            .get(username(user).as_str())
            .unwrap_or_else(|| panic!("{} is missing", username(user)))
    };

    // Entries: one per acknowledged, undeleted key, of the right user.
    let mut stored: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for (user, id, _, note) in &snapshot.entries {
        let note = note
            .clone()
            .unwrap_or_else(|| panic!("entry {id} has no note"));
        stored.entry(note).or_default().push((*user, *id));
    }
    let expected: BTreeMap<String, Vec<(i64, i64)>> = ledger
        .iter()
        .filter(|(_, p)| !p.deleted)
        .map(|(key, p)| (key.clone(), vec![(user_id(p.user), p.id())]))
        .collect();
    for (key, found) in &stored {
        assert_eq!(
            Some(found),
            expected.get(key),
            "{key}: stored as (user, id) {found:?}"
        );
    }
    assert_eq!(stored.len(), expected.len(), "entries stored vs expected");

    // Keys: every acknowledged one, deleted entries' included, holds its answer.
    for (key, posted) in ledger {
        assert_eq!(
            snapshot.keys.get(key),
            Some(&(user_id(posted.user), Some(posted.id()))),
            "{key}: its idempotency record"
        );
    }
    assert_eq!(
        snapshot.keys.len(),
        ledger.len(),
        "idempotency records vs keys"
    );

    // Per-day counts: exactly the entries of each (user, day).
    let mut counted: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for (user, _, day, _) in &snapshot.entries {
        *counted.entry((*user, day.clone())).or_default() += 1;
    }
    assert_eq!(counted, snapshot.days, "entry_days vs entries");

    // Runs: exactly the runs of consecutive counted days.
    let mut days_by_user: BTreeMap<i64, BTreeSet<Date>> = BTreeMap::new();
    for (user, day) in snapshot.days.keys() {
        days_by_user.entry(*user).or_default().insert(date(day));
    }
    let mut expected_runs = Vec::new();
    for (user, days) in &days_by_user {
        let streaks = Streaks::from_days(days.iter().copied());
        let mut runs: Vec<Run> = Vec::new();
        for &day in days {
            match runs.last_mut() {
                Some(run) if run.end.tomorrow().ok() == Some(day) => run.end = day,
                _ => runs.push(Run {
                    start: day,
                    end: day,
                }),
            }
        }
        for run in &runs {
            // The domain's own reading of the same days agrees.
            assert_eq!(streaks.streak_on(run.end), run.days(), "{run:?}");
            expected_runs.push((*user, run.start.to_string(), run.end.to_string()));
        }
    }
    let mut stored_runs = snapshot.runs.clone();
    stored_runs.sort();
    expected_runs.sort();
    assert_eq!(stored_runs, expected_runs, "streak_runs vs entry_days");

    Checked {
        entries: snapshot.entries.len(),
        days: snapshot.days.len(),
        runs: snapshot.runs.len(),
    }
}

/// Opens the SQLite file as the next moodlog would (recovering its WAL),
/// checks it with `PRAGMA integrity_check` and `foreign_key_check`, and
/// reads it.
fn sqlite_snapshot(path: &Path) -> Snapshot {
    let conn = rusqlite::Connection::open(path).expect("open the database");
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("integrity_check");
    assert_eq!(integrity, ["ok"], "PRAGMA integrity_check");
    let violations: Vec<(String, Option<i64>, String)> = conn
        .prepare("PRAGMA foreign_key_check")
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .expect("foreign_key_check");
    assert!(
        violations.is_empty(),
        "foreign key violations: {violations:?}"
    );
    let (last_id, max_id): (i64, Option<i64>) = conn
        .query_row(
            "SELECT last_id, (SELECT max(id) FROM entries) FROM entry_id_sequence",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("entry_id_sequence");
    assert!(
        max_id.is_none_or(|max| max <= last_id),
        "entry ids beyond the counter: {max_id:?} > {last_id}"
    );

    let query = |sql: &str| -> Vec<Vec<rusqlite::types::Value>> {
        let mut statement = conn.prepare(sql).expect(sql);
        let columns = statement.column_count();
        statement
            .query_map([], |r| (0..columns).map(|i| r.get(i)).collect())
            .and_then(Iterator::collect)
            .expect(sql)
    };
    use rusqlite::types::Value::{Integer, Null, Text};
    let mut snapshot = Snapshot::default();
    for row in query("SELECT id, username FROM users") {
        let [Integer(id), Text(name)] = &row[..] else {
            panic!("{row:?}")
        };
        snapshot.users.insert(*id, name.clone());
    }
    for row in query("SELECT user_id, id, local_date, note FROM entries") {
        let [Integer(user), Integer(id), Text(day), note] = &row[..] else {
            panic!("{row:?}")
        };
        let note = match note {
            Text(note) => Some(note.clone()),
            _ => None,
        };
        snapshot.entries.push((*user, *id, day.clone(), note));
    }
    for row in query("SELECT user_id, local_date, entries FROM entry_days") {
        let [Integer(user), Text(day), Integer(count)] = &row[..] else {
            panic!("{row:?}")
        };
        snapshot.days.insert((*user, day.clone()), *count);
    }
    for row in query("SELECT user_id, first_day, last_day FROM streak_runs") {
        let [Integer(user), Text(first), Text(last)] = &row[..] else {
            panic!("{row:?}")
        };
        snapshot.runs.push((*user, first.clone(), last.clone()));
    }
    for row in query("SELECT user_id, key, response FROM idempotency_keys") {
        let (user, key, id) = match &row[..] {
            [Integer(user), Text(key), Text(response)] => {
                let response: Value = serde_json::from_str(response).expect("a JSON answer");
                (*user, key.clone(), response["id"].as_i64())
            }
            [Integer(user), Text(key), Null] => (*user, key.clone(), None),
            _ => panic!("{row:?}"),
        };
        snapshot.keys.insert(key, (user, id));
    }
    snapshot
}

/// Reads moodlog's tables through `url` (whose search_path names the schema).
async fn postgres_snapshot(url: &str) -> Snapshot {
    let client = pg_client(url).await;
    let rows = |sql: &'static str| {
        let client = &client;
        async move {
            client
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        }
    };
    let mut snapshot = Snapshot::default();
    for row in rows("SELECT id, username FROM users").await {
        snapshot.users.insert(row.get(0), row.get(1));
    }
    for row in rows("SELECT user_id, id, local_date::text, note FROM entries").await {
        snapshot
            .entries
            .push((row.get(0), row.get(1), row.get(2), row.get(3)));
    }
    for row in rows("SELECT user_id, local_date::text, entries::bigint FROM entry_days").await {
        snapshot.days.insert((row.get(0), row.get(1)), row.get(2));
    }
    for row in rows("SELECT user_id, first_day::text, last_day::text FROM streak_runs").await {
        snapshot.runs.push((row.get(0), row.get(1), row.get(2)));
    }
    for row in rows("SELECT user_id, key, (response ->> 'id')::bigint FROM idempotency_keys").await
    {
        snapshot.keys.insert(row.get(1), (row.get(0), row.get(2)));
    }
    snapshot
}

// ---------------------------------------------------------------------------
// Killing moodlog
// ---------------------------------------------------------------------------

/// What a run of kills did.
struct Outcome {
    kills: usize,
    ledger: Ledger,
}

/// Starts moodlog on `database_url` under load, SIGKILLs it at random
/// moments and starts it again on the same database, `rounds` times.
/// Returns the running server (the last one), the clients' poster and what
/// was acknowledged.
async fn kill_moodlog_rounds(
    database_url: &str,
    extra_args: &[&str],
    rounds: usize,
    seed: u64,
) -> (Moodlog, Poster, Outcome) {
    let mut rng = Rng::new(seed, 0);
    // The first start is killed too, in the middle of creating the
    // database or migrating it.
    let after = rng.millis(0..150);
    block_in_place(|| Moodlog::kill_while_starting(database_url, extra_args, after));
    let mut kills = 1;
    let mut server = block_in_place(|| Moodlog::serve(database_url, extra_args));
    let http = client();
    let poster = Poster {
        tokens: Arc::new(accounts(&http, &server).await),
        http,
        target: Target::default(),
        counts: Arc::default(),
        fault: Fault::Moodlog,
    };
    poster.target.set(Some(&server.base));
    let load = Load::start(&poster, seed);
    for _round in 0..rounds {
        // Now and then at once, before any write reached the new process;
        // otherwise after a few writes and a random moment more.
        if !rng.one_in(5) {
            load.counts().acknowledge(1 + rng.below(20) as usize).await;
            tokio::time::sleep(rng.millis(0..300)).await;
        }
        poster.target.set(None);
        block_in_place(|| server.kill());
        kills += 1;
        if rng.one_in(4) {
            let after = rng.millis(0..150);
            block_in_place(|| Moodlog::kill_while_starting(database_url, extra_args, after));
            kills += 1;
        }
        server = block_in_place(|| Moodlog::serve(database_url, extra_args));
        poster.target.set(Some(&server.base));
    }
    // The last server works too.
    load.counts().acknowledge(CLIENTS).await;
    let ledger = load.stop().await;
    (server, poster, Outcome { kills, ledger })
}

fn summary(test: &str, rounds: usize, outcome: &Outcome, counts: &Counts, extra: &str) -> String {
    format!(
        "crash summary: {test}: rounds={rounds} kills={} acknowledged={} deleted={} \
         retries={} (unanswered={} 503={}) lost_answers={} replays_checked={}{extra}",
        outcome.kills,
        outcome.ledger.len(),
        Counts::get(&counts.deleted),
        counts.retries(),
        Counts::get(&counts.unanswered),
        Counts::get(&counts.refused),
        Counts::get(&counts.lost_answers),
        Counts::get(&counts.replays),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_survives_sigkill_rounds() {
    let seed = seed("sqlite_survives_sigkill_rounds");
    let started = Instant::now();
    let rounds = setting("MOODLOG_CRASH_ROUNDS", 4);
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("crash.db");
    let url = format!("sqlite://{}", path.display());

    let (server, poster, outcome) = kill_moodlog_rounds(&url, &[], rounds, seed.seed).await;
    check_over_http(&poster, &server, &outcome.ledger).await;
    // The last stop is a crash too; the checks read what it left.
    block_in_place(|| server.kill());
    let checked = check_snapshot(&sqlite_snapshot(&path), &outcome.ledger);

    eprintln!(
        "{}",
        summary(
            "sqlite",
            rounds,
            &outcome,
            &poster.counts,
            &format!(
                " entries={} days={} runs={} integrity=ok seed={} took={:.1}s",
                checked.entries,
                checked.days,
                checked.runs,
                seed.seed,
                started.elapsed().as_secs_f64()
            )
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_survives_sigkill_rounds() {
    let seed = seed("postgres_survives_sigkill_rounds");
    let started = Instant::now();
    let rounds = setting("MOODLOG_CRASH_PG_ROUNDS", 3);
    let schema = fresh_schema().await;

    let extra = ["--pg-pool-size", POOL_SIZE];
    let (server, poster, outcome) =
        kill_moodlog_rounds(&schema.url, &extra, rounds, seed.seed).await;
    check_over_http(&poster, &server, &outcome.ledger).await;
    block_in_place(|| server.kill());
    let checked = check_snapshot(&postgres_snapshot(&schema.url).await, &outcome.ledger);
    let amchecked = block_in_place(|| amcheck(&postgres_support::base_url(), Some(&schema.name)));

    eprintln!(
        "{}",
        summary(
            "postgres",
            rounds,
            &outcome,
            &poster.counts,
            &format!(
                " entries={} days={} runs={} amcheck={} seed={} took={:.1}s",
                checked.entries,
                checked.days,
                checked.runs,
                if amchecked { "ok" } else { "skipped" },
                seed.seed,
                started.elapsed().as_secs_f64()
            )
        )
    );
}

// ---------------------------------------------------------------------------
// Killing PostgreSQL
// ---------------------------------------------------------------------------

/// A PostgreSQL of the test's own is SIGKILLed under load, `kills` times:
/// the first time the postmaster alone (its backends exit when they notice),
/// then the postmaster and its backends at once, alternately. While it is
/// down moodlog answers 503 at once; when it is back (after crash
/// recovery) moodlog heals without a restart; nothing acknowledged is lost
/// or doubled.
#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_a_postgres_sigkill() {
    let seed = seed("acknowledged_writes_survive_a_postgres_sigkill");
    let started = Instant::now();
    let kills = setting("MOODLOG_CRASH_PG_KILLS", 2);
    let mut rng = Rng::new(seed.seed, 0);
    let mut cluster = block_in_place(Cluster::init);
    cluster.start().await;

    let server = block_in_place(|| {
        Moodlog::serve(
            &cluster.url(),
            &[
                "--pg-pool-size",
                POOL_SIZE,
                "--request-timeout",
                REQUEST_TIMEOUT,
            ],
        )
    });
    let http = client();
    let poster = Poster {
        tokens: Arc::new(accounts(&http, &server).await),
        http,
        target: Target::default(),
        counts: Arc::default(),
        fault: Fault::Database,
    };
    poster.target.set(Some(&server.base));
    let load = Load::start(&poster, seed.seed);
    let mut probes = Ledger::new();
    let mut slowest_heal = Duration::ZERO;
    for kill in 0..kills {
        load.counts().acknowledge(10 + rng.below(60) as usize).await;
        tokio::time::sleep(rng.millis(0..300)).await;
        block_in_place(|| cluster.kill(kill % 2 == 1));
        let down = Instant::now();

        // Every client's retries get prompt 503s (the clients check).
        load.counts().refuse(CLIENTS).await;
        let probe = format!("probe-{kill}");
        let body = json!({"rating": 3, "note": probe});
        let posted = send(
            poster
                .http
                .post(server.url("/mood"))
                .bearer_auth(&poster.tokens[0])
                .header("idempotency-key", &probe)
                .json(&body),
        )
        .await;
        let listed = send(
            poster
                .http
                .get(server.url("/mood"))
                .bearer_auth(&poster.tokens[0]),
        )
        .await;
        let ready = send(poster.http.get(server.url("/readyz"))).await;
        for (what, reply) in [
            ("POST /mood", &posted),
            ("GET /mood", &listed),
            ("GET /readyz", &ready),
        ] {
            assert_eq!(
                reply.status, 503,
                "{what} while PostgreSQL is down: {}",
                reply.body
            );
            assert!(
                reply.took < ANSWER_WITHIN,
                "{what}: 503 after {:?}",
                reply.took
            );
        }

        cluster.start().await;
        poll_until("/readyz to answer 200", PROGRESS_PATIENCE, || async {
            try_send(poster.http.get(server.url("/readyz")))
                .await
                .is_ok_and(|r| r.status == 200)
        })
        .await;
        slowest_heal = slowest_heal.max(down.elapsed());
        // The refused probe made nothing: now it is stored, once.
        let (reply, _) = poster.post(0, &probe, &body).await;
        assert!(
            !reply.replayed,
            "{probe} was stored while PostgreSQL was down"
        );
        Counts::add(&poster.counts.acked);
        probes.insert(
            probe,
            Posted {
                user: 0,
                body,
                answer: reply.json(),
                deleted: false,
            },
        );
    }
    load.counts().acknowledge(CLIENTS).await;
    let mut ledger = load.stop().await;
    ledger.extend(probes);

    check_over_http(&poster, &server, &ledger).await;
    let checked = check_snapshot(&postgres_snapshot(&cluster.url()).await, &ledger);
    let recoveries = cluster
        .log_text()
        .matches("automatic recovery in progress")
        .count();
    assert_eq!(recoveries, kills, "crash recoveries in the cluster's log");
    drop(server);
    let amchecked = block_in_place(|| amcheck(&cluster.url(), None));

    let counts = &poster.counts;
    let outcome = Outcome { kills, ledger };
    eprintln!(
        "{}",
        summary(
            "postgres-killed",
            kills,
            &outcome,
            counts,
            &format!(
                " crash_recoveries={recoveries} slowest_503={}ms slowest_heal={:.1}s \
                 entries={} days={} runs={} amcheck={} seed={} took={:.1}s",
                Counts::get(&counts.slowest_refusal_ms),
                slowest_heal.as_secs_f64(),
                checked.entries,
                checked.days,
                checked.runs,
                if amchecked { "ok" } else { "skipped" },
                seed.seed,
                started.elapsed().as_secs_f64()
            )
        )
    );
}
