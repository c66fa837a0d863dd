use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn sign_up_log_in_and_read_the_profile() {
    let app = TestApp::spawn().await;
    let token = app.user_in("Alice", Some("Europe/Paris")).await;
    let (status, me) = app.get_json("/me", &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "alice");
    assert_eq!(me["timezone"], "Europe/Paris");
    assert!(me["id"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn me_without_credentials_is_401_with_bearer_challenge() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/me").send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, StatusCode::UNAUTHORIZED).await;
    let _ = json!({});
}
