//! Security requirements not covered elsewhere (docs/SECURITY.md maps each
//! requirement to its test): transport headers, hostile bodies, injection
//! strings and look-alike usernames.

use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

#[tokio::test]
async fn hsts_is_sent_only_when_browsers_reach_moodlog_over_tls() {
    let tls = TestApp::spawn_with(|c| c.public_url = Some("https://mood.example.org".into())).await;
    let plain = TestApp::spawn().await;
    for path in ["/healthz", "/login", "/", "/nowhere"] {
        let response = tls.request(Method::GET, path).send().await.unwrap();
        assert_eq!(
            response.headers()["strict-transport-security"],
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
        let response = plain.request(Method::GET, path).send().await.unwrap();
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "{path}: HSTS over plain HTTP would lock browsers out"
        );
    }
}

#[tokio::test]
async fn deeply_nested_json_is_400_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let token = app.user("nina").await;
    // 20,000 levels still fit the 64 KiB body limit.
    for depth in [200, 20_000] {
        let body = format!(
            r#"{{"rating": 5, "tags": {}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let response = app
            .authed(Method::POST, "/mood", &token)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(response, StatusCode::BAD_REQUEST).await;
        assert!(
            problem["detail"].as_str().unwrap().contains("JSON"),
            "{problem}"
        );
    }
    let list = app.moods(&token).await;
    assert_eq!(list["entries"], json!([]));
}

#[tokio::test]
async fn sql_injection_strings_are_stored_verbatim_and_harmless() {
    let app = TestApp::spawn().await;
    let mallory = app.user("mallory").await;
    let alice = app.user("alice").await;
    app.mood(&alice, json!({"rating": 7, "note": "alice's own"}))
        .await;
    let payloads = [
        "'); DROP TABLE entries; --",
        "\" OR 1=1 --",
        "1; DELETE FROM users WHERE 1=1",
        "' UNION SELECT password_hash FROM users --",
        "%' OR user_id <> 0 OR note LIKE '%",
        "$1::text; SELECT pg_sleep(10)",
    ];
    for payload in payloads {
        let created = app
            .mood(
                &mallory,
                json!({"rating": 3, "note": payload, "tags": [&payload[..payload.len().min(32)]]}),
            )
            .await;
        assert_eq!(created["note"], payload);
    }
    let list = app.moods(&mallory).await;
    let notes: Vec<&str> = list["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["note"].as_str().unwrap())
        .collect();
    let mut expected = payloads.to_vec();
    expected.reverse();
    assert_eq!(notes, expected, "newest first, byte for byte");
    // Nothing else was touched: alice's entry and account are as they were.
    let list = app.moods(&alice).await;
    assert_eq!(list["entries"].as_array().unwrap().len(), 1);
    assert_eq!(list["entries"][0]["note"], "alice's own");
    // As a username, such a string is simply not a username.
    let response = app.sign_up("x'; DROP TABLE users; --", PASSWORD).await;
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(app.log_in("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn usernames_that_look_alike_are_one_account_or_refused() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.sign_up("alice", PASSWORD).await.status(),
        StatusCode::CREATED
    );
    // Case is folded: the same account.
    for same in ["Alice", "ALICE", "aLiCe"] {
        assert_eq!(
            app.sign_up(same, PASSWORD).await.status(),
            StatusCode::CONFLICT,
            "{same}"
        );
    }
    // Anything outside ASCII letters, digits, `_`, `-` and `.` is refused,
    // so no look-alike can exist: Cyrillic а, fullwidth ａ, a zero-width
    // space, a combining accent, the Kelvin sign (folds to k), dotless ı.
    for lookalike in [
        "\u{430}lice",
        "\u{ff41}lice",
        "ali\u{200b}ce",
        "alice\u{301}",
        "\u{212a}ate",
        "al\u{131}ce",
    ] {
        let response = app.sign_up(lookalike, PASSWORD).await;
        let problem: Value = assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error_fields(&problem), ["username"], "{lookalike:?}");
    }
}

#[tokio::test]
async fn api_responses_can_be_neither_rendered_framed_nor_sniffed() {
    let app = TestApp::spawn().await;
    let token = app.user("olga").await;
    let requests = [
        app.request(Method::GET, "/healthz"),
        app.request(Method::GET, "/nowhere"),
        app.request(Method::POST, "/login").json(&json!({})),
        app.authed(Method::GET, "/mood", &token),
        app.authed(Method::GET, "/me", &token),
        app.request(Method::GET, "/me"),
        app.request(Method::GET, "/openapi.json"),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        let what = format!("{} {}", response.status(), response.url().path());
        let headers = response.headers();
        let csp = headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{what}: {csp}");
        }
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
        assert_eq!(headers["cache-control"], "no-store", "{what}");
    }
}

#[tokio::test]
async fn no_route_shows_or_changes_another_users_data() {
    let app = TestApp::spawn().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let secret = "alice-private-note";
    let entry = app
        .mood(
            &alice,
            json!({"rating": 2, "note": secret, "tags": ["alice-tag"]}),
        )
        .await;
    let id = entry["id"].as_str().unwrap();
    app.mood(&bob, json!({"rating": 8, "note": "bob's"})).await;

    // Every route that returns data, read with Bob's token.
    for path in [
        "/mood".to_string(),
        "/mood?limit=1".to_string(),
        "/mood/export".to_string(),
        "/mood/export?format=csv".to_string(),
        "/me".to_string(),
        format!("/mood/{id}"),
        "/".to_string(),
        "/history".to_string(),
    ] {
        let response = app.authed(Method::GET, &path, &bob).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(
            !body.contains(secret) && !body.contains("alice"),
            "{path}: {body}"
        );
        if path == format!("/mood/{id}") {
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    // Bob cannot delete it; Alice still has it, unchanged.
    let response = app
        .authed(Method::DELETE, &format!("/mood/{id}"), &bob)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::NOT_FOUND).await;
    let (status, still) = app.get_json(&format!("/mood/{id}"), &alice).await;
    assert_eq!(status, StatusCode::OK);
    let mut expected = entry.clone();
    expected.as_object_mut().unwrap().remove("current_streak");
    assert_eq!(still, expected);
}
