//! Headers and behaviour every endpoint shares.

use reqwest::{Method, StatusCode};

use crate::support::*;

#[tokio::test]
async fn every_response_has_nosniff() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz", "/nope", "/openapi.json", "/me"] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{path}");
    }
    let response = app.request(Method::GET, "/healthz").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}
