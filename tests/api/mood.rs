use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn post_then_read_back_with_streak() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    let created = app.mood(&token, json!({"rating": 7, "note": "fine", "tags": ["work"]})).await;
    assert_eq!(created["streak"], 1);
    assert_eq!(created["current_streak"], 1);
    let list = app.moods(&token).await;
    assert_eq!(list["entries"][0]["id"], created["id"]);
    assert_eq!(list["current_streak"], 1);
    assert_eq!(list["logged_today"], true);
}
