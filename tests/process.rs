//! The `moodlog` binary as an operator runs it: start-up line, migrations,
//! SIGTERM, a crash (SIGKILL) losing no acknowledged write, and logs that
//! never carry secrets.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const PASSWORD: &str = "violet tugboat simmers quietly";

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `moodlog serve` on a free port and waits for its
    /// `listening on http://ADDR` line.
    fn start(db: &Path, extra_env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_moodlog"))
            .args(["serve", "--bind", "127.0.0.1:0", "--signup-limit", "0"])
            .arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .envs(extra_env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moodlog starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next().expect("a line").expect("utf-8");
        let addr = line
            .split("listening on http://")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .trim()
            .to_string();
        Self {
            child,
            base: format!("http://{addr}"),
        }
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the process to exit; returns its status and stderr.
    fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut stderr = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .expect("stderr");
                return (status, stderr);
            }
            assert!(Instant::now() < deadline, "moodlog did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> reqwest::Response {
    let mut request = client.post(url).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.expect("request")
}

/// Signs up and logs in; returns the token.
async fn user(client: &reqwest::Client, base: &str, name: &str) -> String {
    let response = post(
        client,
        format!("{base}/users"),
        None,
        json!({"username": name, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let response = post(
        client,
        format!("{base}/login"),
        None,
        json!({"username": name, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

#[test]
fn migrate_runs_alone_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_moodlog"))
            .args(["migrate", "--database-url", &url])
            .output()
            .expect("moodlog migrate runs");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run();
    assert!(
        first.starts_with("applied ") && !first.starts_with("applied 0 "),
        "{first}"
    );
    assert!(run().starts_with("applied 0 migration(s)"));
}

#[test]
fn a_bad_database_url_fails_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_moodlog"))
        .args(["migrate", "--database-url", "mysql://root:hunter2@db/moods"])
        .output()
        .expect("moodlog runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("unsupported database URL scheme"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_cleanly_and_logs_carry_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.db"), &[("RUST_LOG", "trace")]);
    let client = reqwest::Client::new();
    let token = user(&client, &server.base, "alice").await;
    let note = "note-that-must-never-be-logged";
    let response = post(
        &client,
        format!("{}/mood", server.base),
        Some(&token),
        json!({"rating": 4, "note": note}),
    )
    .await;
    assert_eq!(response.status(), 201);
    // A failed login and a password change put passwords in bodies too.
    let response = post(
        &client,
        format!("{}/login", server.base),
        None,
        json!({"username": "alice", "password": "wrong-password-attempt"}),
    )
    .await;
    assert_eq!(response.status(), 401);

    server.signal("TERM");
    let (status, logs) = server.wait();
    assert!(status.success(), "exit status {status:?}; logs:\n{logs}");
    // A clean stop checkpoints the WAL: the database is one file again.
    assert!(
        !dir.path().join("m.db-wal").exists(),
        "the WAL was left behind"
    );
    assert!(logs.contains("POST"), "request logs expected:\n{logs}");
    // Authentication is logged, success and failure alike.
    assert!(logs.contains("logged in"), "{logs}");
    assert!(logs.contains("login failed"), "{logs}");
    for secret in [
        PASSWORD,
        "wrong-password-attempt",
        token.as_str(),
        &token[4..],
        note,
    ] {
        assert!(!logs.contains(secret), "{secret:?} appears in the logs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledged_writes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let server = Server::start(&db, &[]);
    let client = reqwest::Client::new();
    let token = user(&client, &server.base, "alice").await;

    // Concurrent writes, so that several share a group commit.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let (client, base, token) = (client.clone(), server.base.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let response = post(
                &client,
                format!("{base}/mood"),
                Some(&token),
                json!({"rating": 1 + i % 10}),
            )
            .await;
            assert_eq!(response.status(), 201);
            let body: Value = response.json().await.unwrap();
            body["id"].as_str().unwrap().to_string()
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.push(task.await.unwrap());
    }
    server.signal("KILL");
    let (status, _) = server.wait();
    assert!(!status.success());

    let server = Server::start(&db, &[]);
    let response = client
        .get(format!("{}/mood", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the session survived the restart");
    let body: Value = response.json().await.unwrap();
    let mut stored: Vec<String> = body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    stored.sort();
    acknowledged.sort();
    assert_eq!(stored, acknowledged);
    server.signal("TERM");
    assert!(server.wait().0.success());
}
