use reqwest::Method;
use crate::support::*;

#[tokio::test]
async fn dump() {
    let app = TestApp::spawn().await;
    let r = app.request(Method::GET, "/openapi.json").send().await.unwrap();
    println!("{:?}", r.headers());
    let v: serde_json::Value = r.json().await.unwrap();
    println!("{}", serde_json::to_string_pretty(&v["paths"]["/mood"]).unwrap());
    println!("{}", serde_json::to_string_pretty(&v["components"]["schemas"]["NewMood"]).unwrap());
    println!("{}", serde_json::to_string_pretty(&v["components"]["schemas"]["EntryView"]).unwrap());
    println!("{}", serde_json::to_string_pretty(&v["components"]["securitySchemes"]).unwrap());
}
