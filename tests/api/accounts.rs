//! Accounts and sessions: sign-up, login, throttling, authentication,
//! cross-site protection, the profile, password change and account deletion.

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::SignedDuration;
use reqwest::header::{COOKIE, ORIGIN};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------- helpers

const NEW_PASSWORD: &str = "amber lantern drifts sideways";

/// A header's value as text; panics if it is missing.
fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header on a {} response", response.status()))
        .to_str()
        .expect("visible ASCII header")
        .to_string()
}

fn retry_after(response: &Response) -> u64 {
    header(response, "retry-after")
        .parse()
        .expect("Retry-After is a number of seconds")
}

/// The keys of a JSON object, sorted.
fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn sorted(fields: Vec<String>) -> Vec<String> {
    let mut fields = fields;
    fields.sort();
    fields
}

async fn post_json(app: &TestApp, path: &str, body: &Value) -> Response {
    app.request(Method::POST, path)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn sign_up_with(app: &TestApp, body: Value) -> Response {
    post_json(app, "/users", &body).await
}

async fn sign_up_from(app: &TestApp, client: &reqwest::Client, username: &str) -> Response {
    client
        .post(app.url("/users"))
        .json(&json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .expect("request")
}

async fn log_in_from(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> Response {
    client
        .post(app.url("/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("request")
}

/// A logged-in session: its bearer token and its cookie (`name=value`).
struct Session {
    token: String,
    cookie: String,
}

async fn session_of(response: Response) -> Session {
    assert_eq!(response.status(), StatusCode::OK, "login");
    let cookie = header(&response, "set-cookie")
        .split(';')
        .next()
        .expect("cookie pair")
        .to_string();
    let body: Value = response.json().await.expect("json");
    Session {
        token: body["token"].as_str().expect("token").to_string(),
        cookie,
    }
}

/// Logs in, asserting success.
async fn log_in_ok(app: &TestApp, username: &str, password: &str) -> Session {
    session_of(app.log_in(username, password).await).await
}

/// Signs up `username` with `PASSWORD` and logs in.
async fn new_session(app: &TestApp, username: &str) -> Session {
    assert_eq!(
        app.sign_up(username, PASSWORD).await.status(),
        StatusCode::CREATED
    );
    log_in_ok(app, username, PASSWORD).await
}

/// A request authenticated by the session cookie alone.
fn with_cookie(app: &TestApp, method: Method, path: &str, cookie: &str) -> RequestBuilder {
    app.request(method, path).header(COOKIE, cookie)
}

async fn me(app: &TestApp, token: &str) -> Value {
    let (status, body) = app.get_json("/me", token).await;
    assert_eq!(status, StatusCode::OK, "GET /me: {body}");
    body
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get_json("/me", token).await.0
}

/// Asserts a 401 with the Bearer challenge and a problem body.
async fn assert_unauthorized(response: Response) -> Value {
    assert_eq!(header(&response, "www-authenticate"), "Bearer");
    assert_problem(response, StatusCode::UNAUTHORIZED).await
}

async fn assert_invalid(response: Response, fields: &[&str]) -> Value {
    let problem = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let expected: Vec<String> = sorted(fields.iter().map(|f| f.to_string()).collect());
    assert_eq!(sorted(error_fields(&problem)), expected, "{problem}");
    for error in problem["errors"].as_array().unwrap() {
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{problem}"
        );
    }
    problem
}

async fn patch_me(app: &TestApp, token: &str, body: Value) -> Response {
    app.authed(Method::PATCH, "/me", token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

async fn change_password(app: &TestApp, token: &str, current: &str, new: &str) -> Response {
    app.authed(Method::POST, "/me/password", token)
        .json(&json!({"current_password": current, "new_password": new}))
        .send()
        .await
        .expect("request")
}

async fn delete_me(app: &TestApp, token: &str, body: Value) -> Response {
    app.authed(Method::DELETE, "/me", token)
        .json(&body)
        .send()
        .await
        .expect("request")
}

// ---------------------------------------------------------------- sign-up

#[tokio::test]
async fn sign_up_log_in_and_read_the_profile() {
    let app = TestApp::spawn().await;
    let token = app.user_in("Alice", Some("Europe/Paris")).await;
    let me = me(&app, &token).await;
    assert_eq!(keys(&me), ["created_at", "id", "timezone", "username"]);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["timezone"], "Europe/Paris");
    assert!(me["id"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn sign_up_answers_201_with_the_new_profile() {
    let app = TestApp::spawn().await;
    app.set_now("2026-03-01T12:00:00Z");
    let response = sign_up_with(
        &app,
        json!({"username": "bob", "password": PASSWORD, "timezone": "America/New_York"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys(&body), ["created_at", "id", "timezone", "username"]);
    assert!(
        body["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert_eq!(body["username"], "bob");
    assert_eq!(body["timezone"], "America/New_York");
    assert_eq!(body["created_at"], "2026-03-01T12:00:00Z");

    // The same profile is what the account reads back.
    let session = log_in_ok(&app, "bob", PASSWORD).await;
    assert_eq!(me(&app, &session.token).await, body);
}

#[tokio::test]
async fn sign_up_defaults_the_timezone_to_utc() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("carol", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["timezone"], "UTC");

    // An explicit null is the same as omitting it.
    let response = sign_up_with(
        &app,
        json!({"username": "dave", "password": PASSWORD, "timezone": null}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["timezone"], "UTC");
}

#[tokio::test]
async fn sign_up_stores_the_canonical_timezone_spelling() {
    let app = TestApp::spawn().await;
    let response = sign_up_with(
        &app,
        json!({"username": "erin", "password": PASSWORD, "timezone": "america/new_york"}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["timezone"], "America/New_York");
}

#[tokio::test]
async fn usernames_are_ascii_case_folded_so_alice_and_alice_are_one_account() {
    let app = TestApp::spawn().await;
    let response = app.sign_up("Alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["username"], "alice");

    for again in ["alice", "ALICE", "aLiCe"] {
        let response = app.sign_up(again, PASSWORD).await;
        let problem = assert_problem(response, StatusCode::CONFLICT).await;
        assert!(problem.get("errors").is_none(), "{problem}");
    }
    // Any spelling logs in to the one account.
    let session = log_in_ok(&app, "ALICE", PASSWORD).await;
    assert_eq!(me(&app, &session.token).await["username"], "alice");
}

#[tokio::test]
async fn taken_username_is_409() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("frank", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let response = app.sign_up("frank", NEW_PASSWORD).await;
    assert_problem(response, StatusCode::CONFLICT).await;
    // The first account is untouched: its password still works, the other does not.
    assert_eq!(app.log_in("frank", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        app.log_in("frank", NEW_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn invalid_usernames_are_422_and_nothing_is_trimmed() {
    let app = TestApp::spawn().await;
    let too_long = "a".repeat(33);
    for bad in [
        "",
        "ab",
        too_long.as_str(),
        "al ice",
        " alice",
        "alice ",
        "alice\n",
        "\talice",
        "älice",
        "аlice",  // Cyrillic а
        "ａlice", // full-width a
        "al@ce",
        "al/ce",
        "al\u{0}ce",
    ] {
        let response = app.sign_up(bad, PASSWORD).await;
        assert_invalid(response, &["username"]).await;
    }
    // None of the padded names was stored as "alice".
    assert_eq!(
        app.sign_up("alice", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn usernames_of_3_to_32_allowed_characters_are_accepted() {
    let app = TestApp::spawn().await;
    let longest = "z".repeat(32);
    for good in ["abc", longest.as_str(), "a.b-c_9", "007", "..."] {
        let response = app.sign_up(good, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::CREATED, "{good:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["username"], good);
    }
}

#[tokio::test]
async fn sign_up_with_missing_fields_is_422_naming_them() {
    let app = TestApp::spawn().await;
    assert_invalid(
        sign_up_with(&app, json!({})).await,
        &["username", "password"],
    )
    .await;
    assert_invalid(
        sign_up_with(&app, json!({"username": "gina"})).await,
        &["password"],
    )
    .await;
    assert_invalid(
        sign_up_with(&app, json!({"password": PASSWORD})).await,
        &["username"],
    )
    .await;
    assert_invalid(
        sign_up_with(&app, json!({"username": null, "password": null})).await,
        &["username", "password"],
    )
    .await;
    // Well-formed JSON that is not an object.
    for body in [json!([]), json!("gina"), json!(null), json!(42)] {
        assert_invalid(sign_up_with(&app, body).await, &["body"]).await;
    }
    // Nothing was created along the way.
    assert_eq!(
        app.sign_up("gina", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn sign_up_with_non_string_fields_is_422() {
    let app = TestApp::spawn().await;
    assert_invalid(
        sign_up_with(&app, json!({"username": 12345, "password": PASSWORD})).await,
        &["username"],
    )
    .await;
    assert_invalid(
        sign_up_with(
            &app,
            json!({"username": "hank", "password": 1234567890123_u64}),
        )
        .await,
        &["password"],
    )
    .await;
    assert_invalid(
        sign_up_with(&app, json!({"username": "hank", "password": [PASSWORD]})).await,
        &["password"],
    )
    .await;
    assert_invalid(
        sign_up_with(
            &app,
            json!({"username": "hank", "password": PASSWORD, "timezone": 5}),
        )
        .await,
        &["timezone"],
    )
    .await;
    assert_invalid(
        sign_up_with(
            &app,
            json!({"username": true, "password": {}, "timezone": ["UTC"]}),
        )
        .await,
        &["username", "password", "timezone"],
    )
    .await;
}

#[tokio::test]
async fn common_and_guessable_passwords_are_refused() {
    let app = TestApp::spawn().await;
    for weak in [
        "password1",
        "12345678",
        "password",
        "qwertyuiop",
        "iloveyou1",
        "ivan_the_great",
    ] {
        let response = app.sign_up("ivan_the_great", weak).await;
        assert_invalid(response, &["password"]).await;
    }
    // None of them created the account.
    assert_eq!(
        app.sign_up("ivan_the_great", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn passwords_must_be_8_to_256_code_points() {
    let app = TestApp::spawn().await;
    let phrase = |n: usize| -> String {
        "violet tugboat simmers quietly "
            .chars()
            .cycle()
            .take(n)
            .collect()
    };

    let problem = assert_invalid(app.sign_up("judy", "Zq9!xV2").await, &["password"]).await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains('8'),
        "{problem}"
    );
    // 7 code points, 21 bytes: still too short.
    assert_invalid(app.sign_up("judy", "水曜日の猫が踊").await, &["password"]).await;
    let problem = assert_invalid(app.sign_up("judy", &phrase(257)).await, &["password"]).await;
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("256"),
        "{problem}"
    );

    // 256 two-byte code points (512 bytes) are within the limit.
    let wide: String = "ñandú violeta ".chars().cycle().take(256).collect();
    assert_eq!(
        app.sign_up("kate", &wide).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.log_in("kate", &wide).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn long_passwords_are_never_truncated() {
    let app = TestApp::spawn().await;
    let long: String = "violet tugboat simmers quietly "
        .chars()
        .cycle()
        .take(256)
        .collect();
    assert_eq!(
        app.sign_up("judy", &long).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.log_in("judy", &long).await.status(), StatusCode::OK);
    // bcrypt would have kept only the first 72 bytes; the whole password counts.
    for prefix in [72, 255] {
        let response = app.log_in("judy", &long[..prefix]).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "first {prefix} chars"
        );
    }
}

#[tokio::test]
async fn unknown_timezone_is_422() {
    let app = TestApp::spawn().await;
    for bad in [
        "Mars/Olympus",
        "Europe/Paris ",
        " Europe/Paris",
        "",
        "EST5EDT,M3.2.0,M11.1.0",
        "../../etc/passwd",
        "+02:00",
    ] {
        let response = sign_up_with(
            &app,
            json!({"username": "liam", "password": PASSWORD, "timezone": bad}),
        )
        .await;
        assert_invalid(response, &["timezone"]).await;
    }
    assert_eq!(
        app.sign_up("liam", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn sign_up_reports_every_invalid_field_at_once() {
    let app = TestApp::spawn().await;
    let response = sign_up_with(
        &app,
        json!({"username": "a b", "password": "short", "timezone": "Nowhere/Land"}),
    )
    .await;
    let problem = assert_invalid(response, &["username", "password", "timezone"]).await;
    assert!(
        problem["detail"].as_str().unwrap().contains("3 fields"),
        "{problem}"
    );

    // A weak password is reported even when the username is invalid too.
    let response = sign_up_with(&app, json!({"username": "a b", "password": "password1"})).await;
    assert_invalid(response, &["username", "password"]).await;
}

#[tokio::test]
async fn sign_up_without_a_json_content_type_is_415() {
    let app = TestApp::spawn().await;
    let body = json!({"username": "mona", "password": PASSWORD}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/jsonx"),
        None,
    ] {
        let mut request = app.request(Method::POST, "/users").body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let response = request.send().await.unwrap();
        assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    }
    // JSON with parameters is JSON.
    let response = app
        .request(Method::POST, "/users")
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn sign_up_with_malformed_json_is_400() {
    let app = TestApp::spawn().await;
    for body in [
        "",
        "{",
        r#"{"username": "nina", "password": }"#,
        r#"{"username": "nina", "password": "x"} trailing"#,
        r#"{'username': 'nina'}"#,
    ] {
        let response = app
            .request(Method::POST, "/users")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert!(problem.get("errors").is_none(), "{problem}");
    }
}

/// A sign-up body of exactly `len` bytes (padded with JSON whitespace).
fn padded_sign_up(username: &str, len: usize) -> String {
    let mut body = json!({"username": username, "password": PASSWORD}).to_string();
    body.pop();
    let pad = len - body.len() - 1;
    body.push_str(&" ".repeat(pad));
    body.push('}');
    assert_eq!(body.len(), len);
    body
}

#[tokio::test]
async fn sign_up_body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    let send = |body: String| {
        app.request(Method::POST, "/users")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = send(padded_sign_up("olga", 64 * 1024 + 1)).await.unwrap();
    let problem = assert_problem(response, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert!(problem.get("errors").is_none(), "{problem}");
    // Nothing was created: the name is still free, and exactly 64 KiB is fine.
    let response = send(padded_sign_up("olga", 64 * 1024)).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn chunked_sign_up_body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    let addr = app.addr;
    let body = padded_sign_up("pete", 64 * 1024 + 10);
    let status_line = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut request = format!(
            "POST /users HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        for chunk in body.as_bytes().chunks(8 * 1024) {
            request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            request.extend_from_slice(chunk);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"0\r\n\r\n");
        // The server may answer before reading it all; a failed write is fine.
        let _ = stream.write_all(&request);
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line:?}");
    assert_eq!(
        app.sign_up("pete", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

// ---------------------------------------------------------------- sign-up throttle

#[tokio::test]
async fn fourth_sign_up_in_an_hour_from_one_address_is_429() {
    let app = TestApp::spawn_with(|config| config.signup_limit = 3).await;
    for name in ["quinn1", "quinn2", "quinn3"] {
        assert_eq!(
            app.sign_up(name, PASSWORD).await.status(),
            StatusCode::CREATED
        );
    }
    app.clock.advance(SignedDuration::from_mins(10));
    let response = app.sign_up("quinn4", PASSWORD).await;
    // The oldest of the three frees a slot 50 minutes from now.
    assert_eq!(retry_after(&response), 50 * 60);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    // Refused means not created.
    assert_eq!(
        app.log_in("quinn4", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Another address has its own allowance.
    let other = app.client_from(2);
    assert_eq!(
        sign_up_from(&app, &other, "quinn4").await.status(),
        StatusCode::CREATED
    );

    // As soon as the Retry-After has run out, the first address may sign up again.
    app.clock.advance(SignedDuration::from_mins(50));
    assert_eq!(
        app.sign_up("quinn5", PASSWORD).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn sign_up_attempts_for_taken_names_count_towards_the_limit() {
    let app = TestApp::spawn_with(|config| config.signup_limit = 3).await;
    assert_eq!(
        app.sign_up("rita", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    for _ in 0..2 {
        assert_problem(app.sign_up("rita", PASSWORD).await, StatusCode::CONFLICT).await;
    }
    let response = app.sign_up("rosa", PASSWORD).await;
    assert!(retry_after(&response) > 0);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    // Probing taken names is refused too once the limit is reached.
    let response = app.sign_up("rita", PASSWORD).await;
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn invalid_sign_ups_do_not_use_up_the_limit() {
    let app = TestApp::spawn_with(|config| config.signup_limit = 3).await;
    for _ in 0..5 {
        assert_invalid(app.sign_up("sam", "password1").await, &["password"]).await;
    }
    for name in ["sam1", "sam2", "sam3"] {
        assert_eq!(
            app.sign_up(name, PASSWORD).await.status(),
            StatusCode::CREATED
        );
    }
}

// ---------------------------------------------------------------- login

#[tokio::test]
async fn login_answers_a_bearer_token_and_sets_an_http_only_cookie() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("tina", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    app.set_now("2026-03-01T12:00:00Z");
    let response = app.log_in("tina", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = header(&response, "set-cookie");
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys(&body), ["expires_at", "token", "token_type"]);
    assert_eq!(body["token_type"], "Bearer");
    // The default lifetime is 30 days.
    assert_eq!(body["expires_at"], "2026-03-31T12:00:00Z");
    let token = body["token"].as_str().unwrap();
    // At least 128 random bits, safe in a header and a cookie.
    assert!(token.len() >= 22, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );

    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert_eq!(attributes[0], format!("moodlog_session={token}"));
    assert!(attributes.contains(&"HttpOnly"), "{cookie}");
    assert!(attributes.contains(&"SameSite=Lax"), "{cookie}");
    assert!(attributes.contains(&"Path=/"), "{cookie}");
    assert!(attributes.contains(&"Max-Age=2592000"), "{cookie}");
    // Plain http: a Secure cookie would never come back.
    assert!(!attributes.contains(&"Secure"), "{cookie}");
}

#[tokio::test]
async fn the_session_cookie_alone_authenticates() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "uma").await;
    let response = with_cookie(&app, Method::GET, "/me", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["username"], "uma");

    // Among other cookies too.
    let response = with_cookie(
        &app,
        Method::GET,
        "/me",
        &format!("theme=dark; {}; lang=en", session.cookie),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn behind_an_https_public_url_the_cookie_is_secure() {
    let app =
        TestApp::spawn_with(|config| config.public_url = Some("https://mood.example.org".into()))
            .await;
    assert_eq!(
        app.sign_up("vera", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let response = app.log_in("vera", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = header(&response, "set-cookie");
    assert!(cookie.split(';').any(|a| a.trim() == "Secure"), "{cookie}");
    assert!(
        cookie.split(';').any(|a| a.trim() == "HttpOnly"),
        "{cookie}"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("wade", PASSWORD).await.status(),
        StatusCode::CREATED
    );

    let wrong_password = app.log_in("wade", NEW_PASSWORD).await;
    assert_eq!(wrong_password.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&wrong_password, "www-authenticate"), "Bearer");
    assert!(wrong_password.headers().get("set-cookie").is_none());
    let wrong_password = wrong_password.text().await.unwrap();

    for unknown in ["nobody", "wade2", "not a username"] {
        let response = app.log_in(unknown, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{unknown}");
        assert_eq!(header(&response, "www-authenticate"), "Bearer");
        assert_eq!(
            header(&response, "content-type"),
            "application/problem+json"
        );
        assert!(response.headers().get("set-cookie").is_none());
        assert_eq!(response.text().await.unwrap(), wrong_password, "{unknown}");
    }
    let problem: Value = serde_json::from_str(&wrong_password).unwrap();
    assert_eq!(problem["status"], 401);
    assert_eq!(problem["type"], "about:blank");
}

#[tokio::test]
async fn every_login_issues_a_new_token_and_each_works() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("xena", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    let first = log_in_ok(&app, "xena", PASSWORD).await;
    let second = log_in_ok(&app, "xena", PASSWORD).await;
    let third = log_in_ok(&app, "XENA", PASSWORD).await;
    let tokens: BTreeSet<&str> = [&first.token, &second.token, &third.token]
        .into_iter()
        .map(String::as_str)
        .collect();
    assert_eq!(tokens.len(), 3);
    for s in [&first, &second, &third] {
        assert_eq!(me(&app, &s.token).await["username"], "xena");
    }
}

#[tokio::test]
async fn odd_usernames_at_login_are_plain_failures() {
    let app = TestApp::spawn().await;
    app.user("yara").await;
    // Control characters and huge names are throttled and refused like any
    // unknown user, on every backend.
    for username in ["ya\u{0}ra".to_string(), "y".repeat(60_000), "YARA\n".into()] {
        let response = post_json(
            &app,
            "/login",
            &json!({"username": username, "password": PASSWORD}),
        )
        .await;
        assert_problem(response, StatusCode::UNAUTHORIZED).await;
    }
}

#[tokio::test]
async fn login_with_missing_or_non_string_fields_is_422() {
    let app = TestApp::spawn().await;
    assert_invalid(
        post_json(&app, "/login", &json!({})).await,
        &["username", "password"],
    )
    .await;
    assert_invalid(
        post_json(&app, "/login", &json!({"username": "yara"})).await,
        &["password"],
    )
    .await;
    assert_invalid(
        post_json(
            &app,
            "/login",
            &json!({"username": 7, "password": PASSWORD}),
        )
        .await,
        &["username"],
    )
    .await;
    assert_invalid(post_json(&app, "/login", &json!([])).await, &["body"]).await;
    let response = app
        .request(Method::POST, "/login")
        .body("username=yara&password=x")
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
}

// ---------------------------------------------------------------- login throttle

#[tokio::test]
async fn five_failures_lock_the_pair_even_for_the_right_password() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("zoe", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    // Spellings of one username are one pair.
    for name in ["zoe", "ZOE", "Zoe", "zoe", "zOe"] {
        let response = app.log_in(name, "not the password at all").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let response = app.log_in("zoe", PASSWORD).await;
    // Locked until 15 minutes after the last failure; the clock has not moved.
    assert_eq!(retry_after(&response), 15 * 60);
    assert!(response.headers().get("set-cookie").is_none());
    let problem = assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert!(problem.get("token").is_none());
    // Wrong guesses are refused the same way: a locked pair answers nothing.
    let response = app.log_in("zoe", "another guess entirely").await;
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn an_unknown_username_is_locked_the_same_way() {
    let app = TestApp::spawn().await;
    fail_logins(&app, "ghost", PASSWORD, 5).await;
    let response = app.log_in("ghost", PASSWORD).await;
    assert_eq!(retry_after(&response), 15 * 60);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
}

#[tokio::test]
async fn a_locked_username_still_logs_in_from_another_address() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("adam", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    fail_logins(&app, "adam", NEW_PASSWORD, 5).await;
    assert_eq!(
        app.log_in("adam", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );

    let other = app.client_from(2);
    let response = log_in_from(&app, &other, "adam", PASSWORD).await;
    let session = session_of(response).await;
    assert_eq!(me(&app, &session.token).await["username"], "adam");
    // ...and that success does not unlock the first address.
    assert_eq!(
        app.log_in("adam", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Other usernames from the first address are not locked.
    assert_eq!(
        app.sign_up("abel", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(app.log_in("abel", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_successful_login_resets_the_failure_count() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("beth", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    fail_logins(&app, "beth", NEW_PASSWORD, 4).await;
    assert_eq!(app.log_in("beth", PASSWORD).await.status(), StatusCode::OK);
    fail_logins(&app, "beth", NEW_PASSWORD, 4).await;
    assert_eq!(app.log_in("beth", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_lock_lifts_fifteen_minutes_after_the_last_failure() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("cleo", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    fail_logins(&app, "cleo", NEW_PASSWORD, 4).await;
    app.clock.advance(SignedDuration::from_mins(2));
    assert_eq!(
        app.log_in("cleo", NEW_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    app.clock.advance(SignedDuration::from_mins(10));
    let response = app.log_in("cleo", PASSWORD).await;
    assert_eq!(retry_after(&response), 5 * 60);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;

    app.clock.advance(SignedDuration::from_mins(5));
    assert_eq!(app.log_in("cleo", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn failures_spread_over_more_than_fifteen_minutes_do_not_lock() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("dora", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    fail_logins(&app, "dora", NEW_PASSWORD, 3).await;
    app.clock.advance(SignedDuration::from_mins(16));
    fail_logins(&app, "dora", NEW_PASSWORD, 2).await;
    assert_eq!(app.log_in("dora", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_address_gets_at_most_100_failed_logins_across_usernames() {
    let app = TestApp::spawn_with(|config| config.hash_concurrency = 4).await;
    assert_eq!(
        app.sign_up("eddie", PASSWORD).await.status(),
        StatusCode::CREATED
    );

    // 99 failures, each for a different unknown username, a few at a time.
    let names: Vec<String> = (0..99).map(|i| format!("stranger{i:03}")).collect();
    for batch in names.chunks(8) {
        let mut tasks = tokio::task::JoinSet::new();
        for name in batch {
            let (client, url, name) = (app.client.clone(), app.url("/login"), name.clone());
            tasks.spawn(async move {
                client
                    .post(url)
                    .json(&json!({"username": name, "password": PASSWORD}))
                    .send()
                    .await
                    .expect("request")
                    .status()
            });
        }
        while let Some(status) = tasks.join_next().await {
            assert_eq!(status.unwrap(), StatusCode::UNAUTHORIZED);
        }
    }
    // Below the limit, and a success does not reset the address's count.
    assert_eq!(app.log_in("eddie", PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(
        app.log_in("stranger099", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The 100th failure was the last one allowed: every username is refused now.
    for name in ["eddie", "stranger100", "stranger000"] {
        let response = app.log_in(name, PASSWORD).await;
        assert_eq!(retry_after(&response), 15 * 60, "{name}");
        assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    }
    // Another address is not affected.
    let other = app.client_from(2);
    assert_eq!(
        log_in_from(&app, &other, "eddie", PASSWORD).await.status(),
        StatusCode::OK
    );

    // Just before the Retry-After runs out it is still refused, and once it
    // has, the address may try again.
    app.clock
        .advance(SignedDuration::from_mins(15) - SignedDuration::from_secs(1));
    let response = app.log_in("eddie", PASSWORD).await;
    assert_eq!(retry_after(&response), 1);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    app.clock.advance(SignedDuration::from_secs(1));
    assert_eq!(app.log_in("eddie", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_logins() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "fern").await;
    for _ in 0..5 {
        let response =
            change_password(&app, &session.token, "wrong guess here", NEW_PASSWORD).await;
        assert_problem(response, StatusCode::FORBIDDEN).await;
    }
    // A stolen session cannot keep guessing: now even the right one is refused.
    let response = change_password(&app, &session.token, PASSWORD, NEW_PASSWORD).await;
    assert!(retry_after(&response) > 0);
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    let response = delete_me(&app, &session.token, json!({"password": PASSWORD})).await;
    assert_problem(response, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(
        app.log_in("fern", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Nothing changed: the account and the session are still there.
    assert_eq!(me(&app, &session.token).await["username"], "fern");
}

// ---------------------------------------------------------------- authentication

#[tokio::test]
async fn me_without_credentials_is_401_with_bearer_challenge() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/me").send().await.unwrap();
    assert_unauthorized(response).await;
}

#[tokio::test]
async fn malformed_unknown_and_non_bearer_credentials_are_401() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "gail").await;
    let unknown = format!("mlg_{}", "A".repeat(43));
    let wrong_scheme = format!("Basic {}", session.token);
    let mangled = format!("Bearer {}x", session.token);
    for authorization in [
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        mangled.as_str(),
        &format!("Bearer {unknown}"),
        "Basic Z2FpbDp2aW9sZXQgdHVnYm9hdA==",
        wrong_scheme.as_str(),
        &format!("Token {}", session.token),
        session.token.as_str(),
    ] {
        let response = app
            .request(Method::GET, "/me")
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{authorization:?}"
        );
        assert_unauthorized(response).await;
    }
    for cookie in [
        "moodlog_session=",
        "moodlog_session=garbage",
        &format!("moodlog_session={unknown}"),
    ] {
        let response = with_cookie(&app, Method::GET, "/me", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{cookie:?}");
        assert_unauthorized(response).await;
    }
    // The scheme is case-insensitive (RFC 9110); the real token works.
    let response = app
        .request(Method::GET, "/me")
        .header("authorization", format!("bearer {}", session.token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn every_account_endpoint_requires_authentication() {
    let app = TestApp::spawn().await;
    let requests = [
        (Method::POST, "/logout", None),
        (Method::GET, "/me", None),
        (
            Method::PATCH,
            "/me",
            Some(json!({"timezone": "Asia/Tokyo"})),
        ),
        (Method::DELETE, "/me", Some(json!({"password": PASSWORD}))),
        (
            Method::POST,
            "/me/password",
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        ),
    ];
    for (method, path, body) in requests {
        let mut request = app.request(method.clone(), path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_unauthorized(response).await;
    }
}

#[tokio::test]
async fn logout_ends_only_this_session_and_clears_the_cookie() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "hugo").await;
    let other = session_of(app.log_in("hugo", PASSWORD).await).await;

    let response = app
        .authed(Method::POST, "/logout", &session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = header(&response, "set-cookie");
    let attributes: Vec<&str> = cleared.split(';').map(str::trim).collect();
    assert_eq!(attributes[0], "moodlog_session=");
    assert!(attributes.contains(&"Max-Age=0"), "{cleared}");
    assert!(attributes.contains(&"Path=/"), "{cleared}");
    assert!(response.bytes().await.unwrap().is_empty());

    // The token and the cookie of that session are dead.
    assert_unauthorized(
        app.authed(Method::GET, "/me", &session.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let response = with_cookie(&app, Method::GET, "/me", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
    let response = app
        .authed(Method::POST, "/logout", &session.token)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
    // The user's other session is untouched.
    assert_eq!(me_status(&app, &other.token).await, StatusCode::OK);
}

#[tokio::test]
async fn logout_by_cookie_kills_the_cookie_and_the_token() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "iris").await;
    let response = with_cookie(&app, Method::POST, "/logout", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = with_cookie(&app, Method::GET, "/me", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
    assert_eq!(
        me_status(&app, &session.token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = TestApp::spawn_with(|config| {
        config.session_idle_timeout = SignedDuration::from_mins(10);
    })
    .await;
    let session = new_session(&app, "jack").await;
    let fresh = session_of(app.log_in("jack", PASSWORD).await).await;

    app.clock.advance(SignedDuration::from_mins(9));
    assert_eq!(me_status(&app, &fresh.token).await, StatusCode::OK);
    app.clock.advance(SignedDuration::from_mins(1));
    // `session` was last used 10 minutes ago; `fresh` 1 minute ago.
    let response = app
        .authed(Method::GET, "/me", &session.token)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
    assert_eq!(me_status(&app, &fresh.token).await, StatusCode::OK);
    // Expired is final, for the cookie too.
    let response = with_cookie(&app, Method::GET, "/me", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
}

#[tokio::test]
async fn using_a_session_keeps_it_alive_past_the_idle_timeout() {
    let app = TestApp::spawn_with(|config| {
        config.session_idle_timeout = SignedDuration::from_mins(10);
    })
    .await;
    let session = new_session(&app, "kim").await;
    for step in 1..=6 {
        app.clock.advance(SignedDuration::from_mins(6));
        assert_eq!(
            me_status(&app, &session.token).await,
            StatusCode::OK,
            "after {} minutes",
            step * 6
        );
    }
    // Use by cookie counts as well.
    app.clock.advance(SignedDuration::from_mins(6));
    let response = with_cookie(&app, Method::GET, "/me", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.clock.advance(SignedDuration::from_mins(6));
    assert_eq!(me_status(&app, &session.token).await, StatusCode::OK);
    // Then left alone past the idle timeout, it ends.
    app.clock.advance(SignedDuration::from_mins(10));
    assert_eq!(
        me_status(&app, &session.token).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_session_ends_at_its_lifetime_even_when_used_continuously() {
    let app = TestApp::spawn_with(|config| {
        config.session_idle_timeout = SignedDuration::from_mins(10);
        config.session_lifetime = SignedDuration::from_mins(30);
    })
    .await;
    assert_eq!(
        app.sign_up("lena", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    app.set_now("2026-03-01T12:00:00Z");
    let response = app.log_in("lena", PASSWORD).await;
    let cookie = header(&response, "set-cookie");
    assert!(cookie.contains("Max-Age=1800"), "{cookie}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_at"], "2026-03-01T12:30:00Z");
    let token = body["token"].as_str().unwrap();

    for _ in 0..4 {
        app.clock.advance(SignedDuration::from_mins(6));
        assert_eq!(me_status(&app, token).await, StatusCode::OK);
    }
    app.set_now("2026-03-01T12:29:59Z");
    assert_eq!(me_status(&app, token).await, StatusCode::OK);
    app.set_now("2026-03-01T12:30:00Z");
    let response = app.authed(Method::GET, "/me", token).send().await.unwrap();
    assert_unauthorized(response).await;
    // A new login gets a new lifetime.
    let again = log_in_ok(&app, "lena", PASSWORD).await;
    assert_eq!(me_status(&app, &again.token).await, StatusCode::OK);
}

// ---------------------------------------------------------------- cross-site protection

/// The state-changing account requests, with bodies that would succeed.
fn state_changes() -> Vec<(Method, &'static str, Value)> {
    vec![
        (Method::PATCH, "/me", json!({"timezone": "Asia/Tokyo"})),
        (
            Method::POST,
            "/me/password",
            json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
        ),
        (Method::DELETE, "/me", json!({"password": PASSWORD})),
        (Method::POST, "/logout", json!({})),
    ]
}

/// Asserts that none of `state_changes` took effect for `username`.
async fn assert_nothing_changed(app: &TestApp, session: &Session, username: &str) {
    let me = me(app, &session.token).await;
    assert_eq!(me["username"], username);
    assert_eq!(me["timezone"], "UTC");
    assert_eq!(
        app.log_in(username, NEW_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn cookie_only_state_changes_from_another_origin_are_403() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "mila").await;
    let same_host_other_port = format!("http://127.0.0.1:{}", app.addr.port() + 1);
    for origin in [
        "https://evil.example",
        "null",
        same_host_other_port.as_str(),
        &format!("https://{}", app.addr),
    ] {
        for (method, path, body) in state_changes() {
            let response = with_cookie(&app, method.clone(), path, &session.cookie)
                .header(ORIGIN, origin)
                .json(&body)
                .send()
                .await
                .unwrap();
            let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
            assert!(
                problem.get("errors").is_none(),
                "{method} {path} from {origin}"
            );
        }
    }
    assert_nothing_changed(&app, &session, "mila").await;
}

#[tokio::test]
async fn cookie_only_state_changes_marked_cross_site_are_403() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "nora").await;
    for (method, path, body) in state_changes() {
        // Even with a matching Origin, the browser's own verdict wins.
        for origin in [None, Some(app.url(""))] {
            let mut request = with_cookie(&app, method.clone(), path, &session.cookie)
                .header("sec-fetch-site", "cross-site")
                .json(&body);
            if let Some(origin) = origin {
                request = request.header(ORIGIN, origin);
            }
            assert_problem(request.send().await.unwrap(), StatusCode::FORBIDDEN).await;
        }
    }
    assert_nothing_changed(&app, &session, "nora").await;
}

#[tokio::test]
async fn cookie_only_state_changes_from_the_same_origin_are_allowed() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "omar").await;
    let origin = format!("http://{}", app.addr);
    let send = |method: Method, path: &'static str, cookie: String, body: Value| {
        with_cookie(&app, method, path, &cookie)
            .header(ORIGIN, origin.clone())
            .header("sec-fetch-site", "same-origin")
            .json(&body)
            .send()
    };
    let response = send(
        Method::PATCH,
        "/me",
        session.cookie.clone(),
        json!({"timezone": "Asia/Tokyo"}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(me(&app, &session.token).await["timezone"], "Asia/Tokyo");

    let response = send(
        Method::POST,
        "/me/password",
        session.cookie.clone(),
        json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let response = send(Method::POST, "/logout", session.cookie.clone(), json!({}))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        me_status(&app, &session.token).await,
        StatusCode::UNAUTHORIZED
    );

    let again = session_of(app.log_in("omar", NEW_PASSWORD).await).await;
    let response = send(
        Method::DELETE,
        "/me",
        again.cookie,
        json!({"password": NEW_PASSWORD}),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.log_in("omar", NEW_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn cookie_only_state_changes_without_origin_headers_are_allowed() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "pia").await;
    let response = with_cookie(&app, Method::PATCH, "/me", &session.cookie)
        .json(&json!({"timezone": "Europe/Berlin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["timezone"], "Europe/Berlin");

    let response = with_cookie(&app, Method::DELETE, "/me", &session.cookie)
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.log_in("pia", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn bearer_requests_pass_the_cross_site_check() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "ravi").await;
    let cross_site = |method: Method, path: &'static str| {
        app.authed(method, path, &session.token)
            .header(ORIGIN, "https://evil.example")
            .header("sec-fetch-site", "cross-site")
    };
    let response = cross_site(Method::PATCH, "/me")
        .json(&json!({"timezone": "Asia/Tokyo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // With the cookie as well, it is not the cookie alone.
    let response = cross_site(Method::PATCH, "/me")
        .header(COOKIE, &session.cookie)
        .json(&json!({"timezone": "Africa/Lagos"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(me(&app, &session.token).await["timezone"], "Africa/Lagos");
    let response = cross_site(Method::POST, "/logout").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn cross_site_reads_with_the_cookie_are_allowed() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "sara").await;
    let response = with_cookie(&app, Method::GET, "/me", &session.cookie)
        .header(ORIGIN, "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["username"], "sara");
}

#[tokio::test]
async fn with_a_public_url_its_origin_is_the_only_same_origin() {
    let app =
        TestApp::spawn_with(|config| config.public_url = Some("https://mood.example.org".into()))
            .await;
    let session = new_session(&app, "tom").await;
    let patch = |origin: String, timezone: &'static str| {
        with_cookie(&app, Method::PATCH, "/me", &session.cookie)
            .header(ORIGIN, origin)
            .json(&json!({"timezone": timezone}))
            .send()
    };
    let response = patch("https://mood.example.org".into(), "Asia/Tokyo")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The server's own address is not what browsers see any more.
    let response = patch(format!("http://{}", app.addr), "Europe/Rome")
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
    let response = patch("http://mood.example.org".into(), "Europe/Rome")
        .await
        .unwrap();
    assert_problem(response, StatusCode::FORBIDDEN).await;
    assert_eq!(me(&app, &session.token).await["timezone"], "Asia/Tokyo");
}

// ---------------------------------------------------------------- /me

#[tokio::test]
async fn patch_me_changes_the_timezone() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "ugo").await;
    let before = me(&app, &session.token).await;
    let response = patch_me(&app, &session.token, json!({"timezone": "asia/tokyo"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(keys(&body), ["created_at", "id", "timezone", "username"]);
    assert_eq!(body["timezone"], "Asia/Tokyo");
    assert_eq!(body["id"], before["id"]);
    assert_eq!(body["username"], before["username"]);
    assert_eq!(body["created_at"], before["created_at"]);
    assert_eq!(me(&app, &session.token).await, body);
}

#[tokio::test]
async fn patch_me_with_an_unknown_timezone_is_422_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "vito").await;
    for bad in [json!("Mars/Olympus"), json!(""), json!(5), json!(["UTC"])] {
        let response = patch_me(&app, &session.token, json!({"timezone": bad})).await;
        assert_invalid(response, &["timezone"]).await;
    }
    assert_invalid(patch_me(&app, &session.token, json!([])).await, &["body"]).await;
    assert_eq!(me(&app, &session.token).await["timezone"], "UTC");
}

#[tokio::test]
async fn patch_me_with_null_or_omitted_timezone_changes_nothing() {
    let app = TestApp::spawn().await;
    let token = app.user_in("wren", Some("Europe/Lisbon")).await;
    for body in [json!({}), json!({"timezone": null})] {
        let response = patch_me(&app, &token, body.clone()).await;
        assert_eq!(response.status(), StatusCode::OK, "{body}");
        let profile: Value = response.json().await.unwrap();
        assert_eq!(profile["timezone"], "Europe/Lisbon", "{body}");
    }
    assert_eq!(me(&app, &token).await["timezone"], "Europe/Lisbon");
}

#[tokio::test]
async fn patch_me_needs_a_json_body() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "xavi").await;
    let response = app
        .authed(Method::PATCH, "/me", &session.token)
        .body("timezone=Asia/Tokyo")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    let response = app
        .authed(Method::PATCH, "/me", &session.token)
        .header("content-type", "application/json")
        .body("{\"timezone\":")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST).await;
    assert_eq!(me(&app, &session.token).await["timezone"], "UTC");
}

// ---------------------------------------------------------------- POST /me/password

#[tokio::test]
async fn change_password_with_the_wrong_current_password_is_403() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "yves").await;
    let response = change_password(&app, &session.token, "not my password", NEW_PASSWORD).await;
    let problem = assert_problem(response, StatusCode::FORBIDDEN).await;
    assert!(problem.get("errors").is_none(), "{problem}");
    assert_eq!(me_status(&app, &session.token).await, StatusCode::OK);
    assert_eq!(
        app.log_in("yves", NEW_PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.log_in("yves", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn change_password_refuses_a_weak_or_malformed_new_password() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "zack_the_builder").await;
    let too_long: String = NEW_PASSWORD.chars().cycle().take(257).collect();
    for weak in [
        "password1",
        "12345678",
        "short",
        "zack_the_builder",
        too_long.as_str(),
    ] {
        let response = change_password(&app, &session.token, PASSWORD, weak).await;
        assert_invalid(response, &["new_password"]).await;
    }
    let response = app
        .authed(Method::POST, "/me/password", &session.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_invalid(response, &["current_password", "new_password"]).await;
    let response = app
        .authed(Method::POST, "/me/password", &session.token)
        .json(&json!({"current_password": PASSWORD, "new_password": 12345678}))
        .send()
        .await
        .unwrap();
    assert_invalid(response, &["new_password"]).await;
    // The password is unchanged.
    assert_eq!(
        app.log_in("zack_the_builder", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn change_password_keeps_this_session_and_ends_every_other() {
    let app = TestApp::spawn().await;
    let this = new_session(&app, "amos").await;
    let other = log_in_ok(&app, "amos", PASSWORD).await;
    let third = log_in_ok(&app, "amos", PASSWORD).await;

    let response = change_password(&app, &this.token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(response.bytes().await.unwrap().is_empty());

    // The requesting session still works, by token and by cookie.
    assert_eq!(me_status(&app, &this.token).await, StatusCode::OK);
    let response = with_cookie(&app, Method::GET, "/me", &this.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Every other one ended at once.
    assert_unauthorized(
        app.authed(Method::GET, "/me", &other.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let response = with_cookie(&app, Method::GET, "/me", &third.cookie)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
    // Only the new password logs in.
    assert_eq!(
        app.log_in("amos", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let fresh = log_in_ok(&app, "amos", NEW_PASSWORD).await;
    assert_eq!(me_status(&app, &fresh.token).await, StatusCode::OK);
    assert_eq!(me_status(&app, &this.token).await, StatusCode::OK);
}

#[tokio::test]
async fn change_password_does_not_touch_other_accounts() {
    let app = TestApp::spawn().await;
    let amy = new_session(&app, "amy").await;
    let ben = new_session(&app, "ben").await;
    let response = change_password(&app, &amy.token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &ben.token).await, StatusCode::OK);
    assert_eq!(app.log_in("ben", PASSWORD).await.status(), StatusCode::OK);
}

// ---------------------------------------------------------------- DELETE /me

#[tokio::test]
async fn delete_me_with_the_wrong_password_is_403_and_deletes_nothing() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "cara").await;
    let entry = app
        .mood(&session.token, json!({"rating": 7, "note": "fine"}))
        .await;

    let response = delete_me(&app, &session.token, json!({"password": "not my password"})).await;
    assert_problem(response, StatusCode::FORBIDDEN).await;

    assert_eq!(me(&app, &session.token).await["username"], "cara");
    let moods = app.moods(&session.token).await;
    assert_eq!(moods["entries"].as_array().unwrap().len(), 1);
    assert_eq!(moods["entries"][0]["id"], entry["id"]);
    assert_eq!(app.log_in("cara", PASSWORD).await.status(), StatusCode::OK);
    assert_problem(app.sign_up("cara", PASSWORD).await, StatusCode::CONFLICT).await;
}

#[tokio::test]
async fn delete_me_without_a_password_is_422_and_deletes_nothing() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "dina").await;
    for body in [
        json!({}),
        json!({"password": null}),
        json!({"password": 42}),
    ] {
        let response = delete_me(&app, &session.token, body).await;
        assert_invalid(response, &["password"]).await;
    }
    let response = app
        .authed(Method::DELETE, "/me", &session.token)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNSUPPORTED_MEDIA_TYPE).await;
    assert_eq!(me_status(&app, &session.token).await, StatusCode::OK);
}

#[tokio::test]
async fn delete_me_removes_the_account_sessions_and_entries_and_frees_the_username() {
    let app = TestApp::spawn().await;
    let session = new_session(&app, "egon").await;
    let other = log_in_ok(&app, "egon", PASSWORD).await;
    let entry = app
        .mood(&session.token, json!({"rating": 3, "tags": ["tired"]}))
        .await;
    app.mood(&session.token, json!({"rating": 8})).await;

    let response = delete_me(&app, &session.token, json!({"password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = header(&response, "set-cookie");
    assert!(cleared.starts_with("moodlog_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // Every session of the account is dead; the password no longer logs in.
    assert_unauthorized(
        app.authed(Method::GET, "/me", &session.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_unauthorized(
        app.authed(Method::GET, "/mood", &other.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let response = with_cookie(&app, Method::GET, "/me", &other.cookie)
        .send()
        .await
        .unwrap();
    assert_unauthorized(response).await;
    assert_eq!(
        app.log_in("egon", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The name is free; the new account starts empty.
    let token = app.user("Egon").await;
    let profile = me(&app, &token).await;
    assert_eq!(profile["username"], "egon");
    // The store may reuse the old id: what matters is that nothing old shows.
    let moods = app.moods(&token).await;
    assert_eq!(moods["entries"], json!([]), "{moods}");
    assert_eq!(moods["current_streak"], 0);
    assert_eq!(moods["longest_streak"], 0);
    let entry_id = entry["id"].as_str().unwrap();
    let (status, _) = app.get_json(&format!("/mood/{entry_id}"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_me_leaves_other_accounts_alone() {
    let app = TestApp::spawn().await;
    let gone = new_session(&app, "fay").await;
    let stays = new_session(&app, "gus").await;
    app.mood(&stays.token, json!({"rating": 6})).await;
    let response = delete_me(&app, &gone.token, json!({"password": PASSWORD})).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &stays.token).await["username"], "gus");
    assert_eq!(
        app.moods(&stays.token).await["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

// ---------------------------------------------------------------- caching and sniffing

fn assert_not_cached(response: &Response, what: &str) {
    assert_eq!(header(response, "cache-control"), "no-store", "{what}");
    assert_eq!(
        header(response, "x-content-type-options"),
        "nosniff",
        "{what}"
    );
}

#[tokio::test]
async fn account_responses_are_never_cached_and_never_sniffed() {
    let app = TestApp::spawn().await;

    let response = app.sign_up("hana", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_not_cached(&response, "201 POST /users");
    let response = app.sign_up("hana", PASSWORD).await;
    assert_not_cached(&response, "409 POST /users");
    let response = app.sign_up("h", PASSWORD).await;
    assert_not_cached(&response, "422 POST /users");

    let response = app.log_in("hana", NEW_PASSWORD).await;
    assert_not_cached(&response, "401 POST /login");
    let response = app.log_in("hana", PASSWORD).await;
    assert_not_cached(&response, "200 POST /login");
    let session = session_of(response).await;
    let other = log_in_ok(&app, "hana", PASSWORD).await;

    let response = app
        .authed(Method::GET, "/me", &session.token)
        .send()
        .await
        .unwrap();
    assert_not_cached(&response, "GET /me");
    let response = with_cookie(&app, Method::GET, "/me", &session.cookie)
        .send()
        .await
        .unwrap();
    assert_not_cached(&response, "GET /me by cookie");
    let response = patch_me(&app, &session.token, json!({"timezone": "Asia/Tokyo"})).await;
    assert_not_cached(&response, "PATCH /me");
    let response = patch_me(&app, &session.token, json!({"timezone": "Nowhere"})).await;
    assert_not_cached(&response, "422 PATCH /me");
    let response = change_password(&app, &session.token, PASSWORD, NEW_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_not_cached(&response, "POST /me/password");
    let response = app
        .authed(Method::POST, "/logout", &session.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_not_cached(&response, "POST /logout");
    let response = app
        .authed(Method::GET, "/me", &other.token)
        .send()
        .await
        .unwrap();
    assert_not_cached(&response, "401 GET /me");
    let response = app.request(Method::GET, "/me").send().await.unwrap();
    assert_not_cached(&response, "401 GET /me without credentials");
}

// ---------------------------------------------------------------- timing

/// Median time of `n` failed logins as `username`.
/// How long one failed login as `username` takes.
async fn failed_login_time(app: &TestApp, username: &str) -> f64 {
    let started = std::time::Instant::now();
    let response = app.log_in(username, "not the password at all").await;
    let took = started.elapsed().as_secs_f64();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    took
}

/// The median over `rounds` of (unknown user / wrong password), each round
/// timing one of each back to back, in alternating order.
async fn median_time_ratio(app: &TestApp, rounds: usize) -> (f64, Vec<f64>) {
    let mut ratios = Vec::new();
    for round in 0..rounds {
        // Two failures per name at most, then a pause: the throttle never
        // answers in place of the password check.
        if round % 2 == 0 {
            app.clock.advance(SignedDuration::from_mins(16));
        }
        let (known, unknown) = if round % 2 == 0 {
            let known = failed_login_time(app, "ursula").await;
            (known, failed_login_time(app, "nobody-here").await)
        } else {
            let unknown = failed_login_time(app, "nobody-here").await;
            (failed_login_time(app, "ursula").await, unknown)
        };
        ratios.push(unknown / known);
    }
    ratios.sort_by(f64::total_cmp);
    (ratios[rounds / 2], ratios)
}

#[tokio::test]
async fn unknown_users_cost_as_much_time_as_wrong_passwords() {
    // Without the dummy hash, an unknown user would answer in well under a
    // tenth of the time. Status and body are compared elsewhere
    // (`wrong_password_and_unknown_user_get_the_same_401`); here the time:
    // the median of (unknown user / wrong password) over 41 rounds must be
    // within 10% of 1. The machine is shared with other tests, whose bursts
    // can tilt one series of rounds, so a measurement outside the bound is
    // repeated, up to three in all; a real difference (an unknown user
    // skipping the hash) fails every one.
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("ursula", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    failed_login_time(&app, "ursula").await;
    let mut medians = Vec::new();
    for _ in 0..3 {
        let (median, ratios) = median_time_ratio(&app, 41).await;
        if (0.9..=1.1).contains(&median) {
            return;
        }
        medians.push((median, ratios));
    }
    panic!("unknown user / wrong password, three measurements: {medians:.3?}");
}

/// Makes `n` failed logins as `username` with `password`, each a 401.
async fn fail_logins(app: &TestApp, username: &str, password: &str, n: usize) {
    for _ in 0..n {
        assert_eq!(
            app.log_in(username, password).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

/// A login attempt arriving through a load balancer that names the client.
async fn log_in_via(app: &TestApp, forwarded_for: &str, password: &str) -> StatusCode {
    app.request(Method::POST, "/login")
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": "zoe", "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_throttled_on_its_own() {
    let app = TestApp::spawn_with(|config| {
        config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    app.user("zoe").await;
    for _ in 0..5 {
        assert_eq!(
            log_in_via(&app, "203.0.113.7", "not her password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        log_in_via(&app, "203.0.113.7", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Zoe herself, elsewhere, behind the same balancer, is not locked out.
    assert_eq!(
        log_in_via(&app, "198.51.100.20", PASSWORD).await,
        StatusCode::OK
    );
    // A client cannot escape by prepending addresses of its own: the
    // balancer's entry (the rightmost) is the one believed.
    assert_eq!(
        log_in_via(&app, "192.0.2.99, 203.0.113.7", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn().await;
    app.user("zoe").await;
    for _ in 0..5 {
        assert_eq!(
            log_in_via(&app, "203.0.113.7", "not her password").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Claiming another address does not make another client.
    assert_eq!(
        log_in_via(&app, "198.51.100.20", PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
