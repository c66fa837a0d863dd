//! Headers and behaviour every endpoint shares, and the operational
//! endpoints: health, readiness, metrics, the OpenAPI document and the docs.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, Response, StatusCode, Url};
use serde_json::{Value, json};

use crate::support::*;

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("visible ASCII").to_string())
}

#[tokio::test]
async fn every_response_has_nosniff() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/healthz"),
        (Method::GET, "/readyz"),
        (Method::GET, "/metrics"),
        (Method::GET, "/nope"),
        (Method::PUT, "/mood"),
        (Method::GET, "/openapi.json"),
        (Method::GET, "/docs/"),
        (Method::GET, "/me"),
        (Method::POST, "/mood"),
    ] {
        let response = app.request(method.clone(), path).send().await.unwrap();
        assert_eq!(
            header(&response, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_are_404_problems() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    for (method, path) in [
        (Method::GET, "/nope"),
        (Method::POST, "/nope"),
        (Method::GET, "/mood/1/extra"),
        (Method::GET, "/users/1"),
    ] {
        let anonymous = app.request(method.clone(), path).send().await.unwrap();
        assert_problem(anonymous, StatusCode::NOT_FOUND).await;
        let authed = app
            .authed(method.clone(), path, &token)
            .send()
            .await
            .unwrap();
        assert_problem(authed, StatusCode::NOT_FOUND).await;
    }
}

#[tokio::test]
async fn wrong_methods_are_405_problems_with_allow() {
    let app = TestApp::spawn().await;
    for (method, path, allowed) in [
        (Method::PUT, "/mood", &["GET", "POST"][..]),
        (Method::PATCH, "/mood/1", &["GET", "DELETE"][..]),
        (Method::DELETE, "/mood/export", &["GET"][..]),
        (Method::GET, "/users", &["POST"][..]),
        (Method::GET, "/login", &["POST"][..]),
        (Method::POST, "/healthz", &["GET"][..]),
        (Method::PUT, "/me", &["GET", "PATCH", "DELETE"][..]),
    ] {
        let response = app.request(method.clone(), path).send().await.unwrap();
        let allow: BTreeSet<String> = header(&response, "allow")
            .unwrap_or_else(|| panic!("{method} {path}: no Allow header"))
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        for m in allowed {
            assert!(
                allow.contains(*m),
                "{method} {path}: Allow {allow:?} lacks {m}"
            );
        }
        assert!(
            !allow.contains(method.as_str()),
            "{method} {path}: {allow:?}"
        );
        assert_problem(response, StatusCode::METHOD_NOT_ALLOWED).await;
    }
}

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = TestApp::spawn().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(!response.text().await.unwrap().is_empty());
    }
    app.stop().await;
}

// ---------------------------------------------------------------- metrics

/// One sample of the Prometheus / OpenMetrics text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("name and value");
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (
                    name,
                    parse_labels(rest.strip_suffix('}').expect("closing brace")),
                ),
                None => (series, BTreeMap::new()),
            };
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().unwrap_or_else(|_| panic!("value of {line}")),
            }
        })
        .collect()
}

/// `a="x",b="y"`, where values may contain braces, commas and `\"`.
fn parse_labels(mut text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !text.is_empty() {
        let (key, rest) = text.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().expect("closing quote") {
                (_, '\\') => value.push(chars.next().expect("escaped char").1),
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_string(), value);
        text = rest[end + 1..].trim_start_matches(',');
    }
    labels
}

/// The samples whose name ends with `suffix` and that carry all of `labels`.
fn find<'a>(samples: &'a [Sample], suffix: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name.ends_with(suffix))
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

fn one<'a>(samples: &'a [Sample], suffix: &str, labels: &[(&str, &str)]) -> &'a Sample {
    match find(samples, suffix, labels).as_slice() {
        [one] => one,
        other => panic!("expected one *{suffix} sample with {labels:?}, found {other:?}"),
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_with_latency_and_db_figures() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    let entry = app.mood(&token, json!({"rating": 5})).await;
    for _ in 0..3 {
        app.request(Method::GET, "/healthz").send().await.unwrap();
    }
    let entry_path = format!("/mood/{}", entry["id"].as_str().unwrap());
    assert_eq!(app.get_json(&entry_path, &token).await.0, StatusCode::OK);
    assert_eq!(
        app.get_json("/mood/987654", &token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get_json("/mood/987655", &token).await.0,
        StatusCode::NOT_FOUND
    );
    app.request(Method::GET, "/mood").send().await.unwrap(); // 401
    app.request(Method::GET, "/no/such/path")
        .send()
        .await
        .unwrap();

    let response = app.request(Method::GET, "/metrics").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = header(&response, "content-type").unwrap();
    assert!(
        content_type.starts_with("text/plain")
            || content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let samples = parse_metrics(&text);

    // Requests by route template and status.
    let get = |route: &'static str, status: &'static str| -> f64 {
        one(
            &samples,
            "_total",
            &[("method", "GET"), ("route", route), ("status", status)],
        )
        .value
    };
    assert_eq!(get("/healthz", "200"), 3.0);
    assert_eq!(get("/mood/{id}", "200"), 1.0);
    assert_eq!(
        get("/mood/{id}", "404"),
        2.0,
        "ids are folded into the route template"
    );
    assert_eq!(get("/mood", "401"), 1.0);
    assert_eq!(
        one(
            &samples,
            "_total",
            &[("method", "POST"), ("route", "/mood"), ("status", "201")]
        )
        .value,
        1.0
    );
    assert!(
        samples
            .iter()
            .flat_map(|s| s.labels.values())
            .all(|v| !v.contains("987654") && !v.contains("/no/such/path")),
        "raw paths never become label values"
    );

    // A latency histogram per route: cumulative buckets ending at +Inf.
    assert!(
        text.contains("# TYPE") && text.contains("histogram"),
        "{text}"
    );
    let buckets = find(
        &samples,
        "_bucket",
        &[("method", "GET"), ("route", "/healthz")],
    );
    assert!(buckets.len() >= 5, "{buckets:?}");
    let inf = one(
        &samples,
        "_bucket",
        &[("method", "GET"), ("route", "/healthz"), ("le", "+Inf")],
    );
    assert_eq!(inf.value, 3.0);
    let mut by_bound: Vec<(f64, f64)> = buckets
        .iter()
        .map(|b| {
            (
                b.labels["le"].parse::<f64>().unwrap_or(f64::INFINITY),
                b.value,
            )
        })
        .collect();
    by_bound.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        by_bound.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative: {by_bound:?}"
    );
    assert_eq!(
        one(
            &samples,
            "_count",
            &[("method", "GET"), ("route", "/healthz")]
        )
        .value,
        3.0
    );
    assert!(
        one(
            &samples,
            "_sum",
            &[("method", "GET"), ("route", "/healthz")]
        )
        .value
            > 0.0
    );

    // Database figures: the SQLite test app has 2 reader connections and 1
    // writer; the PostgreSQL one a pool of at most 4, opened as needed.
    let connections: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name.contains("db_connections"))
        .collect();
    assert_eq!(connections.len(), 1, "{connections:?}");
    match backend() {
        Backend::Sqlite => assert_eq!(connections[0].value, 3.0),
        Backend::Postgres => assert!((1.0..=4.0).contains(&connections[0].value)),
    }
    let commits: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name.contains("db_commits"))
        .collect();
    assert_eq!(commits.len(), 1, "{commits:?}");
    assert!(
        commits[0].value >= 1.0,
        "the sign-up, login and entry were committed"
    );
    assert!(
        samples.iter().any(|s| s.name.contains("db_queued_writes")),
        "{text}"
    );
}

// ---------------------------------------------------------------- OpenAPI

/// Every path of API.md with its methods.
const API_PATHS: &[(&str, &[&str])] = &[
    ("/users", &["post"]),
    ("/login", &["post"]),
    ("/logout", &["post"]),
    ("/me", &["get", "patch", "delete"]),
    ("/me/password", &["post"]),
    ("/mood", &["get", "post"]),
    ("/mood/{id}", &["get", "delete"]),
    ("/mood/export", &["get"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/metrics", &["get"]),
];

/// The paths that need no credentials.
const PUBLIC_PATHS: &[&str] = &["/users", "/login", "/healthz", "/readyz", "/metrics"];

const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn openapi(app: &TestApp) -> Value {
    let response = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("application/json")
    );
    response.json().await.unwrap()
}

/// Resolves a local `$ref` such as `#/components/schemas/EntryView`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => doc
            .pointer(reference.strip_prefix('#').expect("local ref"))
            .unwrap_or_else(|| panic!("dangling {reference}")),
        None => schema,
    }
}

#[tokio::test]
async fn openapi_is_3_1_and_lists_every_path_with_its_methods() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in API_PATHS {
        let item = paths
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is missing"));
        let documented: BTreeSet<&str> = item
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|k| HTTP_METHODS.contains(k))
            .collect();
        let expected: BTreeSet<&str> = methods.iter().copied().collect();
        assert_eq!(documented, expected, "{path}");
    }
    // Nothing undocumented by API.md (the document and the docs page aside).
    for path in paths.keys() {
        assert!(
            API_PATHS.iter().any(|(p, _)| p == path)
                || ["/openapi.json", "/docs"].contains(&path.as_str()),
            "{path} is not in API.md"
        );
    }
}

#[tokio::test]
async fn openapi_documents_auth_and_problem_responses() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert!(
        schemes.values().any(|s| s["type"] == "http"
            && s["scheme"].as_str().map(str::to_ascii_lowercase).as_deref() == Some("bearer")),
        "{schemes:?}"
    );
    for (path, methods) in API_PATHS {
        for method in *methods {
            let operation = &doc["paths"][path][method];
            let responses = operation["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success"
            );
            if !PUBLIC_PATHS.contains(path) {
                assert!(
                    responses.contains_key("401"),
                    "{method} {path} does not document 401"
                );
                assert!(
                    operation["security"].is_array(),
                    "{method} {path} has no security"
                );
            }
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let content = response["content"].as_object();
                    assert!(
                        content.is_some_and(|c| c.keys().all(|k| k == "application/problem+json")),
                        "{method} {path} {status}: {response}"
                    );
                }
            }
        }
    }
    let post = &doc["paths"]["/mood"]["post"]["responses"];
    for status in ["201", "400", "401", "413", "415", "422"] {
        assert!(
            post.get(status).is_some(),
            "POST /mood does not document {status}"
        );
    }
    assert!(post["201"]["headers"].get("Location").is_some());
}

#[tokio::test]
async fn openapi_schemas_agree_with_api_md() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;

    // The request body of POST /mood.
    let body = resolve(
        &doc,
        &doc["paths"]["/mood"]["post"]["requestBody"]["content"]["application/json"]["schema"],
    );
    assert_eq!(body["required"], json!(["rating"]));
    let rating = &body["properties"]["rating"];
    assert_eq!(rating["type"], "integer");
    assert_eq!(
        (rating["minimum"].as_f64(), rating["maximum"].as_f64()),
        (Some(1.0), Some(10.0))
    );
    assert_eq!(body["properties"]["note"]["maxLength"], 2000);
    assert_eq!(body["properties"]["tags"]["maxItems"], 10);
    let params = doc["paths"]["/mood"]["post"]["parameters"]
        .as_array()
        .expect("parameters");
    assert!(
        params.iter().any(|p| p["in"] == "header"
            && p["name"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case("idempotency-key")),
        "{params:?}"
    );

    // An entry has every field API.md lists, always present.
    let entry = resolve(
        &doc,
        &doc["paths"]["/mood/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
    );
    let fields = [
        "id",
        "rating",
        "note",
        "tags",
        "recorded_at",
        "timezone",
        "local_date",
        "streak",
    ];
    assert_documents_required(entry, &fields, "entry");
    assert_eq!(entry["properties"]["id"]["type"], "string");

    // The list, with its paging parameters.
    let list = resolve(
        &doc,
        &doc["paths"]["/mood"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
    );
    let fields = [
        "current_streak",
        "longest_streak",
        "logged_today",
        "today",
        "timezone",
        "entries",
        "next_cursor",
    ];
    assert_documents_required(list, &fields, "list");
    let params = doc["paths"]["/mood"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let limit = params
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("limit parameter");
    assert_eq!(limit["in"], "query");
    assert_eq!(limit["schema"]["type"], "integer", "{limit}");
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 1000);
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "cursor" && p["in"] == "query")
    );

    // The export formats.
    let export = doc["paths"]["/mood/export"]["get"].to_string();
    assert!(
        export.contains("text/csv") && export.contains("format"),
        "{export}"
    );
}

/// What the handlers check that JSON Schema can state is in the document,
/// so that generated requests (scripts/schemathesis) the document calls
/// valid are accepted.
#[tokio::test]
async fn openapi_states_the_checks_the_server_makes() {
    let app = TestApp::spawn().await;
    let doc = openapi(&app).await;
    let body_of = |path: &str, method: &str| {
        resolve(
            &doc,
            &doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"],
        )
        .clone()
    };

    // Time zones: the names the server knows, in every body that takes one.
    let zones = doc["components"]["schemas"]["TimeZoneName"]["enum"]
        .as_array()
        .expect("TimeZoneName lists the names");
    for name in [
        "UTC",
        "Europe/Paris",
        "America/New_York",
        "Pacific/Kiritimati",
    ] {
        assert!(zones.iter().any(|z| z == name), "{name}");
    }
    for (path, method) in [("/users", "post"), ("/me", "patch"), ("/mood", "post")] {
        let timezone = body_of(path, method)["properties"]["timezone"].to_string();
        assert!(
            timezone.contains("#/components/schemas/TimeZoneName"),
            "{method} {path}: {timezone}"
        );
    }

    // POST /mood: tags, note and recorded_at as the handler reads them.
    let mood = body_of("/mood", "post");
    let tag = resolve(&doc, &mood["properties"]["tags"]["items"]);
    assert_eq!(
        (&tag["minLength"], &tag["maxLength"]),
        (&json!(1), &json!(32))
    );
    assert_eq!(mood["properties"]["note"]["pattern"], "^[^\\u0000]*$");
    let recorded_at = mood["properties"]["recorded_at"]["pattern"]
        .as_str()
        .expect("recorded_at has a pattern");
    assert!(recorded_at.starts_with('^') && recorded_at.ends_with('$'));
    let key = doc["paths"]["/mood"]["post"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "Idempotency-Key")
        .expect("Idempotency-Key");
    assert_eq!(
        key["schema"]["pattern"], "^[!-~]([\\t -~]{0,253}[!-~])?[\\t ]*$",
        "1–255 characters, not counting the whitespace HTTP drops after a value"
    );

    // The export formats are a closed list.
    let format = doc["paths"]["/mood/export"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "format")
        .expect("format");
    assert_eq!(
        resolve(&doc, &format["schema"])["enum"],
        json!(["json", "csv"])
    );

    // Every 429 says how long to wait; every operation that reads the
    // database documents 503.
    for (path, methods) in API_PATHS {
        for method in *methods {
            let responses = &doc["paths"][path][method]["responses"];
            if let Some(throttled) = responses.get("429") {
                assert!(
                    throttled["headers"].get("Retry-After").is_some(),
                    "{method} {path}"
                );
            }
            if !["/healthz", "/metrics"].contains(path) {
                assert!(responses.get("503").is_some(), "{method} {path}: no 503");
            }
        }
    }
}

// ---------------------------------------------------------------- /docs

/// The values of `attr="..."` in `html`.
fn attribute_values(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            rest[..rest.find('"').expect("closing quote")].to_string()
        })
        .collect()
}

#[tokio::test]
async fn docs_page_is_served_with_every_asset_from_this_server() {
    let app = TestApp::spawn().await;
    let response = app.request(Method::GET, "/docs").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        header(&response, "content-type")
            .unwrap()
            .starts_with("text/html")
    );
    if let Some(csp) = header(&response, "content-security-policy") {
        assert!(!csp.contains("http:") && !csp.contains("https:"), "{csp}");
    }
    let page_url = response.url().clone();
    let html = response.text().await.unwrap();
    assert!(html.to_ascii_lowercase().contains("<html"), "{html}");

    let mut assets: Vec<String> = attribute_values(&html, "src");
    assets.extend(attribute_values(&html, "href"));
    let scripts = assets.iter().filter(|a| a.ends_with(".js")).count();
    let styles = assets.iter().filter(|a| a.ends_with(".css")).count();
    assert!(scripts >= 1 && styles >= 1, "{assets:?}");

    let mut fetched = Vec::new();
    for asset in &assets {
        let url: Url = page_url.join(asset).unwrap();
        assert_eq!(
            url.host_str(),
            page_url.host_str(),
            "{asset} is not served by this server"
        );
        assert_eq!(url.port(), page_url.port(), "{asset}");
        let response = app.client.get(url.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let body = response.text().await.unwrap_or_default();
        assert!(!body.is_empty(), "{url}");
        if asset.ends_with(".css") {
            assert!(
                !body.contains("url(http") && !body.contains("@import"),
                "{asset} loads from elsewhere"
            );
        }
        fetched.push((asset.clone(), body));
    }

    // The page's own configuration points at this server's document, and
    // turns off Swagger UI's default online validator, an image it would
    // otherwise load from validator.swagger.io.
    let config: String = fetched
        .iter()
        .filter(|(a, _)| a.ends_with(".js"))
        .map(|(_, body)| body.as_str())
        .filter(|body| body.len() < 100_000)
        .collect();
    assert!(config.contains("/openapi.json"), "{config}");
    let compact: String = config.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        compact.contains(r#""validatorUrl":"none""#) || compact.contains(r#""validatorUrl":null"#),
        "the docs page would load an external validator badge: {config}"
    );
}

// ---------------------------------------------------------------- headers

#[tokio::test]
async fn authenticated_and_credential_responses_are_no_store() {
    let app = TestApp::spawn().await;
    let signup = app.sign_up("alice", PASSWORD).await;
    assert_eq!(signup.status(), StatusCode::CREATED);
    assert_eq!(
        header(&signup, "cache-control").as_deref(),
        Some("no-store"),
        "POST /users"
    );
    let login = app.log_in("alice", PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
    assert_eq!(
        header(&login, "cache-control").as_deref(),
        Some("no-store"),
        "POST /login"
    );
    let cookie = header(&login, "set-cookie").expect("session cookie");
    let cookie = cookie.split(';').next().unwrap().to_string();
    let token = login.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let failed = app.log_in("alice", "wrong password!").await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&failed, "cache-control").as_deref(),
        Some("no-store"),
        "failed login"
    );

    let entry = app.mood(&token, json!({"rating": 5})).await;
    let entry_path = format!("/mood/{}", entry["id"].as_str().unwrap());
    let requests = [
        (Method::GET, "/me".to_string(), None),
        (
            Method::PATCH,
            "/me".to_string(),
            Some(json!({"timezone": "Europe/Paris"})),
        ),
        (
            Method::POST,
            "/mood".to_string(),
            Some(json!({"rating": 6})),
        ),
        (
            Method::POST,
            "/mood".to_string(),
            Some(json!({"rating": 60})),
        ),
        (Method::GET, "/mood".to_string(), None),
        (Method::GET, entry_path.clone(), None),
        (Method::GET, "/mood/export?format=csv".to_string(), None),
        (Method::GET, "/mood/export?format=json".to_string(), None),
        (Method::GET, "/mood/987654".to_string(), None),
        (Method::DELETE, entry_path, None),
    ];
    for (method, path, body) in requests {
        let mut request = app.authed(method.clone(), &path, &token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().as_u16() < 500,
            "{method} {path}: {}",
            response.status()
        );
        assert_eq!(
            header(&response, "cache-control").as_deref(),
            Some("no-store"),
            "{method} {path} ({})",
            response.status()
        );
    }
    // Authenticated by the session cookie alone.
    let response = app
        .request(Method::GET, "/mood")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(&response, "cache-control").as_deref(),
        Some("no-store")
    );
}

#[tokio::test]
async fn x_request_id_is_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let token = app.user("alice").await;
    for (method, path, auth) in [
        (Method::GET, "/healthz", false),
        (Method::GET, "/nope", false),
        (Method::GET, "/mood", false),
        (Method::GET, "/mood", true),
    ] {
        let mut request = app
            .request(method.clone(), path)
            .header("x-request-id", "req-42_a.B");
        if auth {
            request = request.bearer_auth(&token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            header(&response, "x-request-id").as_deref(),
            Some("req-42_a.B"),
            "{method} {path}"
        );
    }

    // Without one, every response gets its own.
    let mut seen = BTreeSet::new();
    for _ in 0..5 {
        let response = app.request(Method::GET, "/healthz").send().await.unwrap();
        let id = header(&response, "x-request-id").expect("generated id");
        assert!(!id.is_empty());
        assert!(seen.insert(id), "ids are unique");
    }

    // One unsafe to log (too long, or with odd characters) is replaced.
    for unsafe_id in ["x".repeat(200), "a b<script>".to_string()] {
        let response = app
            .request(Method::GET, "/healthz")
            .header("x-request-id", &unsafe_id)
            .send()
            .await
            .unwrap();
        let id = header(&response, "x-request-id").expect("an id");
        assert_ne!(id, unsafe_id);
        assert!(!id.is_empty() && id.len() <= 64, "{id}");
    }
}

/// Asserts that `schema` documents each of `fields` and marks it required
/// (they are always present in responses).
fn assert_documents_required(schema: &Value, fields: &[&str], what: &str) {
    let required: BTreeSet<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in fields {
        assert!(
            schema["properties"].get(field).is_some(),
            "{what}.{field} undocumented"
        );
        assert!(
            required.contains(field),
            "{what}.{field} is always present but not required"
        );
    }
}
