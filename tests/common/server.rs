//! The `moodlog` binary started as an operator would, on port 0.
//!
//! Included with `#[path = "common/server.rs"] mod server;` by the test
//! crates that drive the real process (`tests/slow_clients.rs`,
//! `tests/unwritable.rs`).

// Each including crate uses its own part of this file.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const PASSWORD: &str = "violet tugboat simmers quietly";

pub struct Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub base: String,
    /// Where the server's stderr (its logs) goes.
    pub log: PathBuf,
}

impl Server {
    /// Starts `moodlog serve --bind 127.0.0.1:0 --signup-limit 0` on the
    /// SQLite database `db`, with `args` after, and waits for its
    /// `listening on http://ADDR` line. Logs go to `db` + `.log`.
    pub fn start(db: &Path, args: &[&str]) -> Self {
        Self::start_logging_to(db, &db.with_extension("log"), args)
    }

    /// As `start`, with the logs in `log`.
    pub fn start_logging_to(db: &Path, log: &Path, args: &[&str]) -> Self {
        let log = log.to_path_buf();
        let mut child = Command::new(env!("CARGO_BIN_EXE_moodlog"))
            .args(["serve", "--bind", "127.0.0.1:0", "--signup-limit", "0"])
            .arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("a log file"))
            .spawn()
            .expect("moodlog starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next().expect("a line").expect("utf-8");
        let addr: SocketAddr = line
            .split("listening on http://")
            .nth(1)
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .trim()
            .parse()
            .expect("an address");
        Self {
            child: Some(child),
            addr,
            base: format!("http://{addr}"),
            log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// TCP sockets the process holds: its listener and every connection it
    /// has accepted (the kernel's listen queue holds the rest).
    pub fn sockets(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("/proc is readable")
            .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count()
    }

    /// The server's logs so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then waits (at most 20 s) for the exit.
    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("moodlog did not exit on SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A JSON request; returns the status and the body (`Value::Null` if the
/// body is not JSON).
pub async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let mut request = client.request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, content_type)
}

/// Signs up and logs in; returns the token.
pub async fn user(client: &reqwest::Client, server: &Server, name: &str) -> String {
    let credentials = json!({"username": name, "password": PASSWORD});
    let (status, body, _) = call(
        client,
        reqwest::Method::POST,
        server.url("/users"),
        None,
        Some(credentials.clone()),
    )
    .await;
    assert_eq!(status, 201, "sign-up: {body}");
    let (status, body, _) = call(
        client,
        reqwest::Method::POST,
        server.url("/login"),
        None,
        Some(credentials),
    )
    .await;
    assert_eq!(status, 200, "login: {body}");
    body["token"].as_str().expect("a token").to_string()
}
