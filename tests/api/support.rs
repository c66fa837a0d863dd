//! Starting an application for a test, and the requests tests make often.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use jiff::Timestamp;
use moodlog::clock::ManualClock;
use moodlog::config::DatabaseUrl;
use moodlog::{Application, Config};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;

pub use crate::postgres_support::{TestSchema, fresh_schema};

/// A password that passes the strength check.
pub const PASSWORD: &str = "violet tugboat simmers quietly";

/// The database the suite runs on: `MOODLOG_TEST_BACKEND=sqlite` (the
/// default) or `postgres`, which uses `MOODLOG_TEST_POSTGRES_URL` and gives
/// each test its own schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("MOODLOG_TEST_BACKEND").as_deref() {
        Err(_) | Ok("" | "sqlite") => Backend::Sqlite,
        Ok("postgres") => Backend::Postgres,
        Ok(other) => panic!("MOODLOG_TEST_BACKEND={other:?}: use sqlite or postgres"),
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    /// A client without a cookie store: credentials are explicit.
    pub client: reqwest::Client,
    pub dir: TempDir,
    /// The test's own PostgreSQL schema, dropped with the app.
    pub schema: Option<TestSchema>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// An application with the default configuration (sign-up limit off).
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// An application whose configuration `tweak` may change first.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, schema) = match backend() {
            Backend::Sqlite => (DatabaseUrl::Sqlite(dir.path().join("moodlog.db")), None),
            Backend::Postgres => {
                let schema = fresh_schema().await;
                (schema.url.parse().expect("a postgres URL"), Some(schema))
            }
        };
        let mut config = Config::new(url);
        config.bind = "127.0.0.1:0".parse().unwrap();
        config.signup_limit = 0;
        config.sqlite_readers = 2;
        config.pg_pool_size = 4;
        tweak(&mut config);
        let clock = Arc::new(ManualClock::new(Timestamp::now()));
        let app = Application::build_with_clock(config, clock.clone())
            .await
            .expect("application builds");
        let addr = app.local_addr();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(app.run_until(async {
            let _ = rx.await;
        }));
        Self {
            addr,
            clock,
            client: reqwest::Client::new(),
            dir,
            schema,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server ran");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// A client whose requests come from another loopback address.
    pub fn client_from(&self, last_octet: u8) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)))
            .build()
            .expect("client")
    }

    pub async fn sign_up(&self, username: &str, password: &str) -> Response {
        self.request(Method::POST, "/users")
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request")
    }

    pub async fn log_in(&self, username: &str, password: &str) -> Response {
        self.request(Method::POST, "/login")
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .expect("request")
    }

    /// Signs up `username` (with an optional time zone) and logs in; returns the token.
    pub async fn user_in(&self, username: &str, timezone: Option<&str>) -> String {
        let mut body = json!({"username": username, "password": PASSWORD});
        if let Some(tz) = timezone {
            body["timezone"] = json!(tz);
        }
        let response = self
            .request(Method::POST, "/users")
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "sign-up of {username}"
        );
        let response = self.log_in(username, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "login of {username}");
        let body: Value = response.json().await.expect("json");
        body["token"].as_str().expect("token").to_string()
    }

    /// Signs up and logs in a UTC user.
    pub async fn user(&self, username: &str) -> String {
        self.user_in(username, None).await
    }

    pub fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.request(method, path).bearer_auth(token)
    }

    pub async fn post_mood(&self, token: &str, body: Value) -> Response {
        self.authed(Method::POST, "/mood", token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Posts a mood and returns the created entry, asserting 201.
    pub async fn mood(&self, token: &str, body: Value) -> Value {
        let response = self.post_mood(token, body.clone()).await;
        assert_eq!(response.status(), StatusCode::CREATED, "POST /mood {body}");
        response.json().await.expect("json")
    }

    pub async fn get_json(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .authed(Method::GET, path, token)
            .send()
            .await
            .expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `GET /mood`, asserting 200.
    pub async fn moods(&self, token: &str) -> Value {
        let (status, body) = self.get_json("/mood", token).await;
        assert_eq!(status, StatusCode::OK);
        body
    }

    /// Sets the server's clock.
    pub fn set_now(&self, at: &str) {
        self.clock.set(at.parse().expect("timestamp"));
    }
}

/// Asserts a problem-details response with `status` and returns its body.
pub async fn assert_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem json");
    assert_eq!(body["status"], status.as_u16());
    assert_eq!(body["type"], "about:blank");
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    body
}

/// The fields named in a 422's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_string())
        .collect()
}
