//! The web app, driven over HTTP as a browser without JavaScript drives it:
//! open a page, read its hidden `csrf` (and other hidden) fields, post the
//! form `application/x-www-form-urlencoded`, and look at the 303's
//! `Location` instead of following it. What the pages did is checked through
//! the JSON API wherever it can be.
//!
//! Every test sets the server's clock before anyone signs up, so dates are
//! deterministic and sessions are never older than the clock.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HeaderMap, LOCATION, ORIGIN,
    RETRY_AFTER, SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
};
use reqwest::redirect::Policy;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------- helpers

const NOW: &str = "2026-03-10T12:00:00Z";
const EVIL_ORIGIN: &str = "http://evil.example";
const SESSION_COOKIE: &str = "moodlog_session";
const VISITOR_COOKIE: &str = "moodlog_visitor";
const NOTE: &str = r#"<script>alert(1)</script> & "quotes""#;

/// An application whose clock reads `now`.
async fn app_at(now: &str) -> TestApp {
    let app = TestApp::spawn().await;
    app.set_now(now);
    app
}

/// `days` whole days before `NOW`, as RFC 3339.
fn days_ago(days: i64) -> String {
    let now: Timestamp = NOW.parse().expect("timestamp");
    (now - SignedDuration::from_hours(24 * days)).to_string()
}

/// A browser without JavaScript: keeps its cookies, never follows redirects.
struct Browser {
    client: reqwest::Client,
    base: String,
}

impl Browser {
    fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("client");
        Self {
            client,
            base: app.url(""),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .header("accept", "text/html")
            .send()
            .await
            .expect("request")
    }

    /// GETs a page, asserting 200.
    async fn page(&self, path: &str) -> Page {
        let page = Page::of(self.get(path).await).await;
        assert_eq!(page.status, StatusCode::OK, "GET {path}: {}", page.html);
        page
    }

    /// A form post of exactly `fields` (no token is added).
    fn form(&self, path: &str, fields: &[(&str, &str)]) -> RequestBuilder {
        self.client
            .post(self.url(path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("form encoding"))
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.form(path, fields).send().await.expect("request")
    }

    /// Opens `page` and sends `fields` to `action` with the page's token,
    /// as the browser does when the form is submitted.
    async fn submit(&self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.page(page).await.csrf();
        self.post(action, &with_csrf(fields, &csrf)).await
    }

    async fn sign_in_response(&self, username: &str, password: &str) -> Response {
        self.submit(
            "/sign-in",
            "/sign-in",
            &[("username", username), ("password", password)],
        )
        .await
    }

    /// Logs in with the sign-in form; returns the session token (the cookie).
    async fn sign_in(&self, username: &str, password: &str) -> String {
        let response = self.sign_in_response(username, password).await;
        assert_see_other(&response, "/");
        cookie_value(&set_cookie(&response, SESSION_COOKIE).expect("session cookie")).to_string()
    }

    /// Opens the Today page and submits its log form with `fields` in place
    /// of (or besides) the page's own hidden fields.
    async fn log_mood(&self, fields: &[(&str, &str)]) -> Response {
        let page = self.page("/").await;
        let hidden: Vec<(&str, String)> = ["csrf", "idempotency_key", "timezone"]
            .into_iter()
            .map(|name| (name, page.hidden(name)))
            .collect();
        let mut form: Vec<(&str, &str)> = hidden.iter().map(|(n, v)| (*n, v.as_str())).collect();
        for &(name, value) in fields {
            match form.iter_mut().find(|(n, _)| *n == name) {
                Some(field) => field.1 = value,
                None => form.push((name, value)),
            }
        }
        self.post("/entries", &form).await
    }
}

/// `fields` plus the `csrf` field.
fn with_csrf<'a>(fields: &[(&'a str, &'a str)], csrf: &'a str) -> Vec<(&'a str, &'a str)> {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    all
}

/// A signed-up user (UTC) signed in twice: in a browser by the form, and on
/// the API; returns the browser and the API token.
async fn signed_in(app: &TestApp, username: &str) -> (Browser, String) {
    let token = app.user(username).await;
    let browser = Browser::new(app);
    browser.sign_in(username, PASSWORD).await;
    (browser, token)
}

/// A response's status, headers and body.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    html: String,
}

impl Page {
    async fn of(response: Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let html = response.text().await.expect("body");
        Self {
            status,
            headers,
            html,
        }
    }

    fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header on a {} page", self.status))
            .to_str()
            .expect("visible ASCII header")
            .to_string()
    }

    /// Asserts an HTML page (never JSON or problem details).
    fn assert_html(&self) {
        let content_type = self.header("content-type");
        assert!(
            content_type.starts_with("text/html"),
            "{content_type}: {}",
            self.html
        );
        assert!(self.html.starts_with("<!DOCTYPE html>"), "{}", self.html);
    }

    /// The value of the first `<input>` named `name`.
    fn hidden(&self, name: &str) -> String {
        input_value(&self.html, name)
            .unwrap_or_else(|| panic!("no input {name} in the page: {}", self.html))
    }

    fn csrf(&self) -> String {
        self.hidden("csrf")
    }

    /// The text of the element with `id`.
    fn text_of(&self, id: &str) -> Option<String> {
        text_after(&self.html, &format!(r#"id="{id}""#))
    }

    /// The text of the page's `role="alert"` element.
    fn alert(&self) -> Option<String> {
        text_after(&self.html, r#"role="alert""#)
    }

    /// The text of the page's `role="status"` element.
    fn notice(&self) -> Option<String> {
        text_after(&self.html, r#"role="status""#)
    }

    /// The text of the page's `<h1>`.
    fn heading(&self) -> Option<String> {
        text_after(&self.html, "<h1")
    }

    fn count(&self, needle: &str) -> usize {
        self.html.matches(needle).count()
    }

    /// Every value of the attribute `name`, in page order.
    fn attr_values(&self, name: &str) -> Vec<String> {
        attr_values(&self.html, name)
    }

    /// The opening tag that contains `marker`.
    fn tag_with(&self, marker: &str) -> &str {
        let at = self
            .html
            .find(marker)
            .unwrap_or_else(|| panic!("no {marker} in the page: {}", self.html));
        let from = self.html[..at].rfind('<').expect("tag start");
        let to = at + self.html[at..].find('>').expect("tag end");
        &self.html[from..=to]
    }

    /// The markup from `start` up to the next `end` (inclusive).
    fn section(&self, start: &str, end: &str) -> &str {
        let from = self
            .html
            .find(start)
            .unwrap_or_else(|| panic!("no {start} in the page: {}", self.html));
        let to = self.html[from..]
            .find(end)
            .map_or(self.html.len(), |i| from + i + end.len());
        &self.html[from..to]
    }
}

/// The text of the first element whose opening tag contains `marker`, up to
/// the element's first child tag.
fn text_after(html: &str, marker: &str) -> Option<String> {
    let rest = &html[html.find(marker)?..];
    let start = rest.find('>')? + 1;
    let end = start + rest[start..].find('<')?;
    Some(unescape(&rest[start..end]))
}

fn input_value(html: &str, name: &str) -> Option<String> {
    let named = format!(r#" name="{name}""#);
    html.match_indices("<input").find_map(|(at, _)| {
        let tag = &html[at..at + html[at..].find('>')?];
        if tag.contains(&named) {
            Some(
                attr_values(tag, "value")
                    .into_iter()
                    .next()
                    .unwrap_or_default(),
            )
        } else {
            None
        }
    })
}

fn attr_values(html: &str, name: &str) -> Vec<String> {
    let needle = format!(r#" {name}=""#);
    html.match_indices(&needle)
        .filter_map(|(at, _)| {
            let start = at + needle.len();
            let end = start + html[start..].find('"')?;
            Some(unescape(&html[start..end]))
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The `Set-Cookie` line that sets `name`, if any.
fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|line| {
            line.split(';')
                .next()
                .and_then(|pair| pair.split_once('='))
                .is_some_and(|(n, _)| n.trim() == name)
        })
        .map(String::from)
}

fn cookie_value(line: &str) -> &str {
    line.split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map_or("", |(_, value)| value.trim())
}

/// A cookie's attributes, lowercased (`httponly`, `samesite=lax`, ...).
fn cookie_attributes(line: &str) -> BTreeSet<String> {
    line.split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect()
}

/// Asserts the session cookie is being removed: empty and expired.
fn assert_cleared(response: &Response) {
    let line = set_cookie(response, SESSION_COOKIE).expect("a Set-Cookie clearing the session");
    assert_eq!(cookie_value(&line), "", "{line}");
    assert!(cookie_attributes(&line).contains("max-age=0"), "{line}");
}

fn location(response: &Response) -> String {
    response
        .headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location on a {} response", response.status()))
        .to_str()
        .expect("visible ASCII")
        .to_string()
}

fn assert_see_other(response: &Response, to: &str) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{response:?}");
    assert_eq!(location(response), to);
}

/// Asserts the "Form expired" page: a forged or stale form changed nothing.
async fn assert_form_expired(response: Response, what: &str) {
    let page = Page::of(response).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{what}: {}", page.html);
    page.assert_html();
    assert_eq!(page.heading().as_deref(), Some("Form expired"), "{what}");
    assert!(
        page.alert().is_some_and(|a| a.contains("expired")),
        "{what}: {}",
        page.html
    );
}

fn entries(list: &Value) -> Vec<Value> {
    list["entries"].as_array().expect("entries array").clone()
}

fn ids(list: &Value) -> Vec<String> {
    entries(list)
        .iter()
        .map(|e| e["id"].as_str().expect("id").to_string())
        .collect()
}

/// Logs a mood on the API at `at` (UTC); returns its id.
async fn mood_at(app: &TestApp, token: &str, at: &str, rating: u8) -> String {
    let entry = app
        .mood(token, json!({"rating": rating, "recorded_at": at}))
        .await;
    entry["id"].as_str().expect("id").to_string()
}

async fn me(app: &TestApp, token: &str) -> Value {
    let (status, body) = app.get_json("/me", token).await;
    assert_eq!(status, StatusCode::OK, "GET /me: {body}");
    body
}

// ---------------------------------------------------------------- sign-up

#[tokio::test]
async fn sign_up_form_creates_the_account_and_signs_in() {
    let app = app_at(NOW).await;
    let browser = Browser::new(&app);
    let form = browser.page("/sign-up").await;
    assert_eq!(form.heading().as_deref(), Some("Sign up"));
    let csrf = form.csrf();

    let response = browser
        .post(
            "/sign-up",
            &with_csrf(
                &[
                    ("username", "alice"),
                    ("password", PASSWORD),
                    ("timezone", "Europe/Paris"),
                ],
                &csrf,
            ),
        )
        .await;
    assert_see_other(&response, "/");
    let cookie = set_cookie(&response, SESSION_COOKIE).expect("session cookie");
    assert!(!cookie_value(&cookie).is_empty(), "{cookie}");
    let attributes = cookie_attributes(&cookie);
    assert!(attributes.contains("httponly"), "{cookie}");
    assert!(attributes.contains("samesite=lax"), "{cookie}");
    assert!(attributes.contains("path=/"), "{cookie}");
    assert!(!attributes.contains("secure"), "plain http: {cookie}");

    let today = browser.page("/").await;
    assert_eq!(
        text_after(&today.html, r#"class="who""#).as_deref(),
        Some("alice")
    );
    assert_eq!(today.text_of("current-streak").as_deref(), Some("0"));
    assert_eq!(
        today.text_of("today-status").as_deref(),
        Some("Not logged yet today")
    );
    assert!(today.text_of("streak-nudge").is_none(), "no streak to keep");

    let response = app.log_in("alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "the API login works");
    let token: Value = response.json().await.expect("json");
    let profile = me(&app, token["token"].as_str().expect("token")).await;
    assert_eq!(profile["username"], "alice");
    assert_eq!(profile["timezone"], "Europe/Paris");
}

/// Submits the sign-up form (opened first) with `username` and `password`.
async fn sign_up_form(browser: &Browser, username: &str, password: &str) -> Page {
    let response = browser
        .submit(
            "/sign-up",
            "/sign-up",
            &[
                ("username", username),
                ("password", password),
                ("timezone", "UTC"),
            ],
        )
        .await;
    assert!(
        set_cookie(&response, SESSION_COOKIE).is_none(),
        "a failed sign-up signs nobody in"
    );
    Page::of(response).await
}

/// Asserts a sign-up form shown again after an error: the typed username
/// kept (escaped), the password never, and a message next to `field`.
fn assert_sign_up_again(page: &Page, username: &str, password: &str, field: &str) {
    page.assert_html();
    assert!(
        page.alert().is_some_and(|a| !a.trim().is_empty()),
        "{}",
        page.html
    );
    assert_eq!(page.hidden("username"), username, "username kept");
    assert_eq!(page.hidden("password"), "", "password never sent back");
    assert!(!page.html.contains(password), "password in page");
    assert!(
        page.html.contains(&format!(r#"id="{field}-error""#)),
        "no field error for {field}: {}",
        page.html
    );
    // The form works again straight away.
    assert!(!page.csrf().is_empty());
}

#[tokio::test]
async fn sign_up_form_with_a_taken_username_is_409() {
    let app = app_at(NOW).await;
    app.user("taken").await;
    let browser = Browser::new(&app);

    let page = sign_up_form(&browser, "taken", PASSWORD).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.html);
    assert_eq!(page.alert().as_deref(), Some("That username is taken."));
    assert_sign_up_again(&page, "taken", PASSWORD, "username");
}

#[tokio::test]
async fn sign_up_form_with_a_weak_password_is_422_with_advice() {
    let app = app_at(NOW).await;
    let browser = Browser::new(&app);

    let page = sign_up_form(&browser, "alice", "password123").await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    let alert = page.alert().expect("alert");
    assert!(alert.starts_with("Password "), "{alert}");
    assert_sign_up_again(&page, "alice", "password123", "password");
    assert_eq!(
        app.log_in("alice", "password123").await.status(),
        StatusCode::UNAUTHORIZED,
        "no account was created"
    );
}

#[tokio::test]
async fn sign_up_form_with_an_invalid_username_is_422_and_escapes_it() {
    let app = app_at(NOW).await;
    let browser = Browser::new(&app);

    let page = sign_up_form(&browser, "a b", PASSWORD).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert!(page.alert().expect("alert").starts_with("Username "));
    assert_sign_up_again(&page, "a b", PASSWORD, "username");

    let typed = r#"<b>"x"</b>"#;
    let page = sign_up_form(&browser, typed, PASSWORD).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert_sign_up_again(&page, typed, PASSWORD, "username");
    assert!(!page.html.contains("<b>"), "unescaped: {}", page.html);
}

// ---------------------------------------------------------------- sign-in

#[tokio::test]
async fn sign_in_form_with_the_right_password_signs_in() {
    let app = app_at(NOW).await;
    app.user("alice").await;
    let browser = Browser::new(&app);
    let form = browser.page("/sign-in").await;
    assert_eq!(form.heading().as_deref(), Some("Log in"));
    assert!(form.html.contains(r#"href="/sign-up""#));

    let response = browser.sign_in_response("alice", PASSWORD).await;
    assert_see_other(&response, "/");
    let cookie = set_cookie(&response, SESSION_COOKIE).expect("session cookie");
    let attributes = cookie_attributes(&cookie);
    assert!(attributes.contains("httponly"), "{cookie}");
    assert!(attributes.contains("samesite=lax"), "{cookie}");

    let today = browser.page("/").await;
    assert_eq!(
        text_after(&today.html, r#"class="who""#).as_deref(),
        Some("alice")
    );
}

/// Asserts a failed sign-in page: `status`, the alert, the typed username
/// kept and no password, no JSON, no session.
async fn assert_sign_in_refused(response: Response, status: StatusCode, alert: &str) -> Page {
    assert!(set_cookie(&response, SESSION_COOKIE).is_none());
    let page = Page::of(response).await;
    assert_eq!(page.status, status, "{}", page.html);
    page.assert_html();
    assert!(!page.html.trim_start().starts_with('{'), "{}", page.html);
    assert_eq!(page.alert().as_deref(), Some(alert), "{}", page.html);
    assert_eq!(page.hidden("password"), "");
    page
}

#[tokio::test]
async fn sign_in_form_answers_wrong_password_and_unknown_user_alike() {
    let app = app_at(NOW).await;
    app.user("alice").await;
    let browser = Browser::new(&app);

    let response = browser.sign_in_response("alice", "not the password").await;
    let page = assert_sign_in_refused(
        response,
        StatusCode::UNAUTHORIZED,
        "Wrong username or password.",
    )
    .await;
    assert_eq!(page.hidden("username"), "alice");
    assert!(!page.html.contains("not the password"));

    let response = browser.sign_in_response("nobody", "not the password").await;
    let page = assert_sign_in_refused(
        response,
        StatusCode::UNAUTHORIZED,
        "Wrong username or password.",
    )
    .await;
    assert_eq!(page.hidden("username"), "nobody");

    assert_see_other(&browser.get("/").await, "/sign-in");
}

#[tokio::test]
async fn sign_in_form_locks_after_five_wrong_passwords() {
    let app = app_at(NOW).await;
    app.user("alice").await;
    let browser = Browser::new(&app);

    for attempt in 1..=5 {
        let response = browser.sign_in_response("alice", "wrong guess").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    // Locked even for the right password: the lock must not tell whether a
    // guess was right.
    let response = browser.sign_in_response("alice", PASSWORD).await;
    let retry_after: u64 = response
        .headers()
        .get(RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("seconds");
    assert!((1..=15 * 60).contains(&retry_after), "{retry_after}");
    let page = assert_sign_in_refused(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts. Try again in 15 minutes.",
    )
    .await;
    assert!(page.html.contains("Too many attempts"));
}

// ---------------------------------------------------------------- forged forms

/// How a forged form post differs from the browser's own.
#[derive(Debug, Clone, Copy)]
enum Forgery {
    MissingToken,
    /// A real token, of another browser.
    OtherToken,
    CrossSiteOrigin,
    CrossSiteFetch,
}

impl Forgery {
    const ALL: [Forgery; 4] = [
        Self::MissingToken,
        Self::OtherToken,
        Self::CrossSiteOrigin,
        Self::CrossSiteFetch,
    ];

    /// `fields` posted from `browser` to `path` as this forgery; `own` is
    /// the browser's real token, `other` another browser's.
    fn request(
        self,
        browser: &Browser,
        path: &str,
        fields: &[(&str, &str)],
        own: &str,
        other: &str,
    ) -> RequestBuilder {
        match self {
            Self::MissingToken => browser.form(path, fields),
            Self::OtherToken => browser.form(path, &with_csrf(fields, other)),
            Self::CrossSiteOrigin => browser
                .form(path, &with_csrf(fields, own))
                .header(ORIGIN, EVIL_ORIGIN),
            Self::CrossSiteFetch => browser
                .form(path, &with_csrf(fields, own))
                .header("sec-fetch-site", "cross-site"),
        }
    }
}

#[tokio::test]
async fn visitor_cookie_keys_the_sign_in_and_sign_up_tokens() {
    let app = app_at(NOW).await;
    let browser = Browser::new(&app);
    let response = browser.get("/sign-in").await;
    let visitor = set_cookie(&response, VISITOR_COOKIE).expect("visitor cookie");
    let attributes = cookie_attributes(&visitor);
    assert!(attributes.contains("httponly"), "{visitor}");
    assert!(attributes.contains("samesite=strict"), "{visitor}");
    let token = Page::of(response).await.csrf();

    // The same browser gets the same token on both forms, without a new cookie.
    let response = browser.get("/sign-up").await;
    assert!(set_cookie(&response, VISITOR_COOKIE).is_none());
    assert_eq!(Page::of(response).await.csrf(), token);
    // Another browser gets another.
    assert_ne!(Browser::new(&app).page("/sign-in").await.csrf(), token);
}

#[tokio::test]
async fn forged_sign_in_and_sign_up_forms_are_refused() {
    let app = app_at(NOW).await;
    app.user("alice").await;
    let browser = Browser::new(&app);
    let own = browser.page("/sign-in").await.csrf();
    let other = Browser::new(&app).page("/sign-in").await.csrf();

    for forgery in Forgery::ALL {
        let what = format!("sign-in, {forgery:?}");
        let fields = [("username", "alice"), ("password", PASSWORD)];
        let response = forgery
            .request(&browser, "/sign-in", &fields, &own, &other)
            .send()
            .await
            .expect("request");
        assert!(set_cookie(&response, SESSION_COOKIE).is_none(), "{what}");
        assert_form_expired(response, &what).await;

        let what = format!("sign-up, {forgery:?}");
        let username = format!("forged-{}", format!("{forgery:?}").to_lowercase());
        let fields = [("username", username.as_str()), ("password", PASSWORD)];
        let response = forgery
            .request(&browser, "/sign-up", &fields, &own, &other)
            .send()
            .await
            .expect("request");
        assert!(set_cookie(&response, SESSION_COOKIE).is_none(), "{what}");
        assert_form_expired(response, &what).await;
        assert_eq!(
            app.log_in(&username, PASSWORD).await.status(),
            StatusCode::UNAUTHORIZED,
            "{what}: no account was created"
        );
    }

    // A browser that never opened the form has no visitor cookie: a token
    // copied from someone else's page is refused too.
    let fresh = Browser::new(&app);
    let response = fresh
        .post(
            "/sign-in",
            &with_csrf(&[("username", "alice"), ("password", PASSWORD)], &own),
        )
        .await;
    assert_form_expired(response, "sign-in without a visitor cookie").await;
    assert_see_other(&browser.get("/").await, "/sign-in");
    assert_see_other(&fresh.get("/").await, "/sign-in");
}

#[tokio::test]
async fn forged_forms_of_a_signed_in_user_change_nothing() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    let (other_browser, _) = signed_in(&app, "bob").await;
    let entry = mood_at(&app, &token, NOW, 5).await;
    let own = browser.page("/").await.csrf();
    let other = other_browser.page("/").await.csrf();
    assert_ne!(own, other);

    let delete_entry = format!("/history/{entry}/delete");
    let forms: [(&str, &[(&str, &str)]); 5] = [
        ("/entries", &[("rating", "7")]),
        ("/settings/timezone", &[("timezone", "Asia/Tokyo")]),
        ("/settings/delete-account", &[("password", PASSWORD)]),
        (&delete_entry, &[]),
        ("/sign-out", &[]),
    ];
    for (path, fields) in forms {
        for forgery in Forgery::ALL {
            let response = forgery
                .request(&browser, path, fields, &own, &other)
                .send()
                .await
                .expect("request");
            assert!(set_cookie(&response, SESSION_COOKIE).is_none());
            let page = Page::of(response).await;
            assert_eq!(
                page.status,
                StatusCode::FORBIDDEN,
                "{path}, {forgery:?}: {}",
                page.html
            );
            page.assert_html();
            assert!(page.alert().is_some(), "{path}, {forgery:?}: {}", page.html);
        }
    }

    assert_eq!(ids(&app.moods(&token).await), [entry.as_str()], "entries");
    assert_eq!(me(&app, &token).await["timezone"], "UTC");
    assert_eq!(browser.page("/").await.csrf(), own, "session still valid");

    // The browser's own form, sent from its own origin, goes through: the
    // refusals above were the forgeries'.
    let response = browser
        .form(
            "/settings/timezone",
            &with_csrf(&[("timezone", "Asia/Tokyo")], &own),
        )
        .header(ORIGIN, app.url(""))
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .expect("request");
    assert_see_other(&response, "/settings?saved=1");
    assert_eq!(me(&app, &token).await["timezone"], "Asia/Tokyo");
}

#[tokio::test]
async fn cross_site_forms_of_a_signed_in_user_get_the_form_expired_page() {
    let app = app_at(NOW).await;
    let (browser, _) = signed_in(&app, "alice").await;
    let own = browser.page("/").await.csrf();
    for forgery in [Forgery::CrossSiteOrigin, Forgery::CrossSiteFetch] {
        let response = forgery
            .request(&browser, "/entries", &[("rating", "7")], &own, "")
            .send()
            .await
            .expect("request");
        assert_form_expired(response, &format!("{forgery:?}")).await;
    }
}

#[tokio::test]
async fn a_form_token_works_only_in_its_own_session() {
    let app = app_at(NOW).await;
    let (alice, alice_token) = signed_in(&app, "alice").await;
    let (bob, _) = signed_in(&app, "bob").await;
    let bobs_token = bob.page("/").await.csrf();

    let response = alice
        .post("/entries", &with_csrf(&[("rating", "7")], &bobs_token))
        .await;
    assert_form_expired(response, "bob's token in alice's session").await;

    // Another session of the same person has its own token too.
    let second = Browser::new(&app);
    second.sign_in("alice", PASSWORD).await;
    let seconds_token = second.page("/").await.csrf();
    assert_ne!(seconds_token, alice.page("/").await.csrf());
    let response = alice
        .post("/entries", &with_csrf(&[("rating", "7")], &seconds_token))
        .await;
    assert_form_expired(response, "another session's token").await;

    assert!(entries(&app.moods(&alice_token).await).is_empty());
}

// ---------------------------------------------------------------- logging a mood

#[tokio::test]
async fn log_form_stores_the_entry_and_pages_show_the_note_escaped() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;

    let response = browser
        .log_mood(&[
            ("rating", "7"),
            ("note", NOTE),
            ("tags", "work, slept well"),
        ])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    let id = to
        .strip_prefix("/?logged=")
        .unwrap_or_else(|| panic!("redirect to {to}"))
        .to_string();

    let today = browser.page(&to).await;
    let notice = today.notice().expect("notice");
    assert!(notice.starts_with("Logged 7/10."), "{notice}");
    assert!(notice.contains("1 day"), "{notice}");
    assert_eq!(today.text_of("current-streak").as_deref(), Some("1"));

    let list = app.moods(&token).await;
    let stored = entries(&list);
    assert_eq!(stored.len(), 1, "{list}");
    assert_eq!(stored[0]["id"], id.as_str());
    assert_eq!(stored[0]["rating"], 7);
    assert_eq!(stored[0]["note"], NOTE, "stored verbatim");
    assert_eq!(stored[0]["tags"], json!(["work", "slept well"]));
    assert_eq!(
        stored[0]["timezone"], "UTC",
        "no script: the profile's zone"
    );
    assert_eq!(stored[0]["recorded_at"], NOW);

    let history = browser.page("/history").await;
    assert!(
        history
            .html
            .contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; "),
        "{}",
        history.html
    );
    assert!(!history.html.contains("<script>alert(1)</script>"));
    assert_eq!(
        text_after(&history.html, r#"class="note""#).as_deref(),
        Some(NOTE)
    );
    assert_eq!(
        history
            .section(r#"class="tags""#, "</ul>")
            .matches(r#"class="tag""#)
            .count(),
        2
    );
    for page in ["/", "/history", &format!("/history/{id}/delete")] {
        let page = browser.page(page).await;
        assert!(
            !page.html.contains("<script>alert(1)</script>"),
            "{}",
            page.html
        );
    }
}

#[tokio::test]
async fn logged_notice_shows_only_the_viewers_own_entries() {
    let app = app_at(NOW).await;
    let (browser, _) = signed_in(&app, "alice").await;
    let bob = app.user("bob").await;
    let bobs = mood_at(&app, &bob, NOW, 3).await;

    for logged in [bobs.as_str(), "999999", "abc"] {
        let page = browser.page(&format!("/?logged={logged}")).await;
        assert!(page.notice().is_none(), "?logged={logged}: {}", page.html);
        assert!(!page.html.contains("Logged 3/10"));
    }
}

#[tokio::test]
async fn log_form_without_a_valid_rating_is_422_and_stores_nothing() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;

    for rating in [None, Some("11"), Some("0"), Some("abc"), Some("")] {
        let mut fields = vec![("note", "kept"), ("tags", "a, b")];
        if let Some(rating) = rating {
            fields.push(("rating", rating));
        }
        let page = Page::of(browser.log_mood(&fields).await).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "rating {rating:?}: {}",
            page.html
        );
        page.assert_html();
        assert_eq!(
            page.alert().as_deref(),
            Some("Choose a rating from 1 to 10."),
            "rating {rating:?}"
        );
        // The form again, as it was typed.
        assert_eq!(page.text_of("note").as_deref(), Some("kept"));
        assert_eq!(page.hidden("tags"), "a, b");
    }
    assert!(entries(&app.moods(&token).await).is_empty());
}

#[tokio::test]
async fn log_form_sent_twice_stores_one_entry() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    let page = browser.page("/").await;
    let (csrf, key) = (page.csrf(), page.hidden("idempotency_key"));
    assert!(!key.is_empty());
    let fields = [
        ("csrf", csrf.as_str()),
        ("idempotency_key", key.as_str()),
        ("timezone", ""),
        ("rating", "6"),
        ("note", "double tap"),
    ];

    let first = browser.post("/entries", &fields).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let second = browser.post("/entries", &fields).await;
    assert_see_other(&second, &location(&first));
    assert_eq!(entries(&app.moods(&token).await).len(), 1);

    // The same key with other content: a stale page, refused.
    let mut edited = fields;
    edited[3] = ("rating", "2");
    let page = Page::of(browser.post("/entries", &edited).await).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    assert!(page.alert().is_some_and(|a| a.contains("already used")));
    let list = app.moods(&token).await;
    assert_eq!(entries(&list).len(), 1);
    assert_eq!(entries(&list)[0]["rating"], 6);

    // Each page view gets a fresh key.
    assert_ne!(browser.page("/").await.hidden("idempotency_key"), key);
}

#[tokio::test]
async fn log_form_timezone_field_sets_the_entry_zone_else_the_profile_one() {
    let app = app_at(NOW).await;
    let token = app.user_in("alice", Some("Europe/Paris")).await;
    let browser = Browser::new(&app);
    browser.sign_in("alice", PASSWORD).await;

    for zone in ["Asia/Tokyo", "Mars/Olympus", ""] {
        let response = browser
            .log_mood(&[("rating", "5"), ("timezone", zone)])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "zone {zone:?}");
    }
    let zones: Vec<Value> = entries(&app.moods(&token).await)
        .iter()
        .map(|e| e["timezone"].clone())
        .collect();
    assert_eq!(
        zones.iter().filter(|z| **z == "Asia/Tokyo").count(),
        1,
        "{zones:?}"
    );
    assert_eq!(
        zones.iter().filter(|z| **z == "Europe/Paris").count(),
        2,
        "unknown and missing zones fall back to the profile's: {zones:?}"
    );
}

// ---------------------------------------------------------------- streak

#[tokio::test]
async fn today_page_nudges_to_keep_the_streak_until_today_is_logged() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    mood_at(&app, &token, &days_ago(1), 6).await;
    mood_at(&app, &token, &days_ago(2), 4).await;

    let today = browser.page("/").await;
    assert_eq!(today.text_of("current-streak").as_deref(), Some("2"));
    assert_eq!(today.text_of("longest-streak").as_deref(), Some("2"));
    assert_eq!(
        today.text_of("today-status").as_deref(),
        Some("Not logged yet today")
    );
    assert_eq!(
        today.text_of("streak-nudge").as_deref(),
        Some("Log today to keep your 2-day streak.")
    );

    let response = browser.log_mood(&[("rating", "8")]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let today = browser.page(&location(&response)).await;
    assert_eq!(today.text_of("current-streak").as_deref(), Some("3"));
    assert_eq!(today.text_of("longest-streak").as_deref(), Some("3"));
    assert_eq!(
        today.text_of("today-status").as_deref(),
        Some("Logged today")
    );
    assert!(today.text_of("streak-nudge").is_none(), "{}", today.html);
    assert_eq!(
        today.notice().as_deref(),
        Some("Logged 8/10. Your streak is 3 days.")
    );
}

// ---------------------------------------------------------------- charts

/// The `<circle>`s of the mood chart, and the rows of its data table.
fn chart_points(page: &Page) -> (usize, usize) {
    assert!(page.tag_with(r#"id="mood-chart""#).starts_with("<figure"));
    let figure = page.section(r#"id="mood-chart""#, "</figure>");
    assert_eq!(figure.matches("<svg").count(), 1, "{figure}");
    let table = page.section("<details", "</details>");
    (
        figure.matches("<circle").count(),
        table.matches("<tr><td>").count(),
    )
}

/// Asserts a page the CSP allows: no inline style or script at all.
fn assert_no_inline_code(page: &Page) {
    assert!(
        !page.html.contains("style="),
        "style attribute: {}",
        page.html
    );
    assert!(
        !page.html.contains("<style"),
        "style element: {}",
        page.html
    );
    for (at, _) in page.html.match_indices("<script") {
        let tag = &page.html[at..at + page.html[at..].find('>').expect("tag end")];
        assert!(tag.contains(" src=\"/assets/"), "inline script: {tag}");
        assert!(
            page.html[at..].starts_with(&format!("{tag}></script>")),
            "script with a body: {tag}"
        );
    }
}

#[tokio::test]
async fn mood_chart_has_one_point_per_day_with_entries_in_its_range() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    // 4 days in the last 30 (two entries on one of them), 3 more in 90.
    for (days, rating) in [
        (0, 7),
        (1, 5),
        (1, 9),
        (5, 3),
        (29, 8),
        (30, 2),
        (45, 6),
        (89, 4),
    ] {
        mood_at(&app, &token, &days_ago(days), rating).await;
    }

    let page = browser.page("/").await;
    assert_eq!(chart_points(&page), (4, 4));
    assert!(
        page.html
            .contains(r#"href="/?range=30" aria-current="page""#)
    );
    assert!(page.tag_with(r#"id="calendar""#).starts_with("<figure"));
    assert_no_inline_code(&page);

    let page = browser.page("/?range=90").await;
    assert_eq!(chart_points(&page), (7, 7));
    assert!(
        page.html
            .contains(r#"href="/?range=90" aria-current="page""#)
    );
    assert_no_inline_code(&page);

    let page = browser.page("/?range=365").await;
    assert_eq!(chart_points(&page), (7, 7));

    for unoffered in ["7", "abc", "-30", ""] {
        let page = browser.page(&format!("/?range={unoffered}")).await;
        assert_eq!(chart_points(&page), (4, 4), "range={unoffered}");
        assert!(
            page.html
                .contains(r#"href="/?range=30" aria-current="page""#)
        );
    }
}

#[tokio::test]
async fn pages_have_no_inline_style_or_script() {
    let app = app_at(NOW).await;
    let visitor = Browser::new(&app);
    for path in ["/sign-in", "/sign-up", "/sign-in?deleted=1"] {
        assert_no_inline_code(&visitor.page(path).await);
    }
    let (browser, token) = signed_in(&app, "alice").await;
    let entry = mood_at(&app, &token, &days_ago(3), 5).await;
    browser.log_mood(&[("rating", "9"), ("tags", "a")]).await;
    for path in [
        "/".to_string(),
        "/history".to_string(),
        "/settings".to_string(),
        format!("/history/{entry}/delete"),
    ] {
        assert_no_inline_code(&browser.page(&path).await);
    }
}

// ---------------------------------------------------------------- history

#[tokio::test]
async fn history_groups_entries_by_day_newest_first() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    assert!(
        browser
            .page("/history")
            .await
            .html
            .contains("No entries yet")
    );

    mood_at(&app, &token, "2026-03-05T12:00:00Z", 3).await;
    mood_at(&app, &token, "2026-03-08T12:00:00Z", 4).await;
    mood_at(&app, &token, "2026-03-10T09:00:00Z", 5).await;
    mood_at(&app, &token, "2026-03-10T11:00:00Z", 6).await;

    let page = browser.page("/history").await;
    assert_eq!(
        page.attr_values("data-date"),
        ["2026-03-10", "2026-03-08", "2026-03-05"]
    );
    assert_eq!(page.attr_values("data-id"), ids(&app.moods(&token).await));
    assert_eq!(page.count(r#"class="entry""#), 4);
    assert_eq!(
        text_after(&page.html, r#"id="day-2026-03-10""#).as_deref(),
        Some("Today ")
    );
    let today = page.section(r#"data-date="2026-03-10""#, "</section>");
    assert_eq!(today.matches(r#"class="entry""#).count(), 2);
    assert_eq!(
        text_after(today, r#"class="rating"#).as_deref(),
        Some("6/10"),
        "newest first within the day"
    );
    assert_eq!(
        text_after(today, r#"class="streak""#).as_deref(),
        Some("Day 1 of a streak")
    );
    assert!(!page.html.contains("No entries yet"));
    assert!(!page.html.contains("Older entries"));
}

#[tokio::test]
async fn history_groups_each_day_once_when_entries_were_logged_in_other_zones() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    // Local dates 03-09 (in Los Angeles), 03-10 (UTC), 03-09 (UTC), newest first.
    app.mood(
        &token,
        json!({"rating": 5, "recorded_at": "2026-03-10T03:00:00Z", "timezone": "America/Los_Angeles"}),
    )
    .await;
    mood_at(&app, &token, "2026-03-10T01:00:00Z", 6).await;
    mood_at(&app, &token, "2026-03-09T12:00:00Z", 7).await;
    let local_dates: Vec<Value> = entries(&app.moods(&token).await)
        .iter()
        .map(|e| e["local_date"].clone())
        .collect();
    assert_eq!(
        local_dates,
        [
            json!("2026-03-09"),
            json!("2026-03-10"),
            json!("2026-03-09")
        ]
    );

    let page = browser.page("/history").await;
    assert_eq!(page.attr_values("data-date"), ["2026-03-10", "2026-03-09"]);
    assert_eq!(
        page.count(r#"id="day-2026-03-09""#),
        1,
        "element ids are unique"
    );
}

#[tokio::test]
async fn deleting_an_entry_from_history() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    let keep = mood_at(&app, &token, &days_ago(1), 4).await;
    let entry = mood_at(&app, &token, NOW, 8).await;
    let page = browser.page("/history").await;
    assert!(
        page.html
            .contains(&format!(r#"href="/history/{entry}/delete""#))
    );

    let path = format!("/history/{entry}/delete");
    let confirm = browser.page(&path).await;
    assert_eq!(confirm.attr_values("data-id"), [entry.as_str()]);
    assert!(
        confirm.html.contains(">Delete entry</button>"),
        "{}",
        confirm.html
    );
    assert!(confirm.html.contains(&format!(r#"action="{path}""#)));
    assert!(confirm.html.contains(r#"href="/history""#), "a Cancel link");
    assert_eq!(
        app.moods(&token).await["entries"].as_array().unwrap().len(),
        2
    );

    let response = browser.post(&path, &with_csrf(&[], &confirm.csrf())).await;
    assert_see_other(&response, "/history?deleted=1");
    let history = browser.page("/history?deleted=1").await;
    assert_eq!(history.notice().as_deref(), Some("Entry deleted."));
    assert_eq!(history.attr_values("data-id"), [keep.as_str()]);
    assert_eq!(ids(&app.moods(&token).await), [keep]);
    let (status, _) = app.get_json(&format!("/mood/{entry}"), &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting it again: it is gone.
    let response = browser.post(&path, &with_csrf(&[], &confirm.csrf())).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_someone_elses_or_no_entry_is_404() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    mood_at(&app, &token, NOW, 5).await;
    let bob = app.user("bob").await;
    let bobs = mood_at(&app, &bob, NOW, 6).await;
    let csrf = browser.page("/").await.csrf();

    for id in [bobs.as_str(), "abc", "999999", "-1", "01"] {
        let path = format!("/history/{id}/delete");
        let page = Page::of(browser.get(&path).await).await;
        assert_eq!(
            page.status,
            StatusCode::NOT_FOUND,
            "GET {path}: {}",
            page.html
        );
        page.assert_html();
        assert!(page.alert().is_some());
        assert!(!page.html.contains(r#"class="entry""#));

        let page = Page::of(browser.post(&path, &with_csrf(&[], &csrf)).await).await;
        assert_eq!(
            page.status,
            StatusCode::NOT_FOUND,
            "POST {path}: {}",
            page.html
        );
        page.assert_html();
    }
    assert_eq!(ids(&app.moods(&bob).await), [bobs]);
    assert_eq!(entries(&app.moods(&token).await).len(), 1);
}

#[tokio::test]
async fn history_pages_hold_100_entries_with_a_link_to_older_ones() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    let now: Timestamp = NOW.parse().unwrap();
    for i in 0..105 {
        let at = (now - SignedDuration::from_hours(6 * i)).to_string();
        mood_at(&app, &token, &at, (i % 10 + 1) as u8).await;
    }
    let all = ids(&app.moods(&token).await);
    assert_eq!(all.len(), 105);

    let first = browser.page("/history").await;
    assert_eq!(first.count(r#"class="entry""#), 100);
    assert_eq!(first.attr_values("data-id"), all[..100]);
    assert_eq!(
        text_after(&first.html, r#"href="/history?cursor="#).as_deref(),
        Some("Older entries")
    );
    let href = first
        .attr_values("href")
        .into_iter()
        .find(|h| h.starts_with("/history?cursor="))
        .expect("older entries link");

    let second = browser.page(&href).await;
    assert_eq!(second.count(r#"class="entry""#), 5);
    assert_eq!(second.attr_values("data-id"), all[100..]);
    assert!(!second.html.contains("Older entries"));
}

// ---------------------------------------------------------------- settings

#[tokio::test]
async fn settings_timezone_form_changes_the_profile() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    let settings = browser.page("/settings").await;
    assert!(settings.html.contains(r#"<option value="UTC" selected>"#));
    assert!(settings.html.contains(r#"href="/mood/export?format=csv""#));

    let response = browser
        .submit(
            "/settings",
            "/settings/timezone",
            &[("timezone", "Asia/Tokyo")],
        )
        .await;
    assert_see_other(&response, "/settings?saved=1");
    let saved = browser.page("/settings?saved=1").await;
    assert_eq!(saved.notice().as_deref(), Some("Time zone saved."));
    assert!(
        saved
            .html
            .contains(r#"<option value="Asia/Tokyo" selected>"#)
    );
    assert_eq!(me(&app, &token).await["timezone"], "Asia/Tokyo");

    let page = Page::of(
        browser
            .submit(
                "/settings",
                "/settings/timezone",
                &[("timezone", "Mars/Olympus")],
            )
            .await,
    )
    .await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.html
    );
    page.assert_html();
    let alert = page.alert().expect("alert");
    assert!(alert.starts_with("Time zone is not a known"), "{alert}");
    assert_eq!(me(&app, &token).await["timezone"], "Asia/Tokyo");
}

#[tokio::test]
async fn delete_account_with_a_wrong_password_is_403_and_keeps_it() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    mood_at(&app, &token, NOW, 5).await;

    let response = browser
        .submit(
            "/settings",
            "/settings/delete-account",
            &[("password", "not the password")],
        )
        .await;
    assert!(set_cookie(&response, SESSION_COOKIE).is_none());
    let page = Page::of(response).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.html);
    page.assert_html();
    assert_eq!(page.alert().as_deref(), Some("The password is wrong."));
    assert!(!page.html.contains("not the password"));

    assert_eq!(me(&app, &token).await["username"], "alice");
    assert_eq!(entries(&app.moods(&token).await).len(), 1);
    browser.page("/").await;
}

#[tokio::test]
async fn delete_account_with_the_password_deletes_it_and_signs_out() {
    let app = app_at(NOW).await;
    let (browser, token) = signed_in(&app, "alice").await;
    mood_at(&app, &token, NOW, 5).await;

    let response = browser
        .submit(
            "/settings",
            "/settings/delete-account",
            &[("password", PASSWORD)],
        )
        .await;
    assert_see_other(&response, "/sign-in?deleted=1");
    assert_cleared(&response);

    assert_see_other(&browser.get("/").await, "/sign-in");
    assert_eq!(
        app.get_json("/me", &token).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.log_in("alice", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let page = browser.page("/sign-in?deleted=1").await;
    assert_eq!(
        page.notice().as_deref(),
        Some("Your account has been deleted.")
    );
}

// ---------------------------------------------------------------- sessions

#[tokio::test]
async fn sign_out_ends_the_session_everywhere_it_is_used() {
    let app = app_at(NOW).await;
    let (browser, other_session) = signed_in(&app, "alice").await;
    let second = Browser::new(&app);
    let session = second.sign_in("alice", PASSWORD).await;
    // The cookie is a session token the API accepts as well.
    assert_eq!(me(&app, &session).await["username"], "alice");

    let response = second.submit("/", "/sign-out", &[]).await;
    assert_see_other(&response, "/sign-in");
    assert_cleared(&response);

    assert_see_other(&second.get("/").await, "/sign-in");
    let no_redirects = Browser::new(&app);
    let replayed = no_redirects
        .client
        .get(no_redirects.url("/history"))
        .header(COOKIE, format!("{SESSION_COOKIE}={session}"))
        .send()
        .await
        .expect("request");
    assert_see_other(&replayed, "/sign-in");
    assert_eq!(
        app.get_json("/me", &session).await.0,
        StatusCode::UNAUTHORIZED
    );

    // Only that session ended.
    assert_eq!(me(&app, &other_session).await["username"], "alice");
    browser.page("/").await;
}

#[tokio::test]
async fn protected_pages_send_visitors_to_sign_in() {
    let app = app_at(NOW).await;
    let visitor = Browser::new(&app);
    let stale = Browser::new(&app);
    for path in [
        "/",
        "/?range=90",
        "/history",
        "/settings",
        "/history/1/delete",
    ] {
        assert_see_other(&visitor.get(path).await, "/sign-in");
        let response = stale
            .client
            .get(stale.url(path))
            .header(COOKIE, format!("{SESSION_COOKIE}=not-a-session"))
            .send()
            .await
            .expect("request");
        assert_see_other(&response, "/sign-in");
    }
}

#[tokio::test]
async fn session_cookie_is_secure_behind_an_https_public_url() {
    let app = TestApp::spawn_with(|config| {
        config.public_url = Some("https://mood.example".into());
    })
    .await;
    app.set_now(NOW);
    app.user("alice").await;

    let browser = Browser::new(&app);
    let response = browser.sign_in_response("alice", PASSWORD).await;
    assert_see_other(&response, "/");
    let cookie = set_cookie(&response, SESSION_COOKIE).expect("session cookie");
    let attributes = cookie_attributes(&cookie);
    assert!(attributes.contains("secure"), "{cookie}");
    assert!(attributes.contains("httponly"), "{cookie}");
    assert!(attributes.contains("samesite=lax"), "{cookie}");

    let response = browser
        .submit(
            "/sign-up",
            "/sign-up",
            &[("username", "bob"), ("password", PASSWORD)],
        )
        .await;
    assert_see_other(&response, "/");
    let cookie = set_cookie(&response, SESSION_COOKIE).expect("session cookie");
    assert!(cookie_attributes(&cookie).contains("secure"), "{cookie}");

    // The public origin is the one forms must come from.
    let from_public = Browser::new(&app);
    let sign_in = from_public.page("/sign-in").await;
    let visitor = sign_in.header("set-cookie");
    assert!(visitor.starts_with("moodlog_visitor="), "{visitor}");
    assert!(cookie_attributes(&visitor).contains("secure"), "{visitor}");
    let csrf = sign_in.csrf();
    let fields = [("username", "alice"), ("password", PASSWORD)];
    let response = from_public
        .form("/sign-in", &with_csrf(&fields, &csrf))
        .header(ORIGIN, "https://mood.example")
        .send()
        .await
        .expect("request");
    assert_see_other(&response, "/");
    let from_host = Browser::new(&app);
    let csrf = from_host.page("/sign-in").await.csrf();
    let response = from_host
        .form("/sign-in", &with_csrf(&fields, &csrf))
        .header(ORIGIN, app.url(""))
        .send()
        .await
        .expect("request");
    assert_form_expired(response, "Origin of the Host, not the public URL").await;
}

// ---------------------------------------------------------------- headers and assets

fn assert_page_headers(page: &Page, what: &str) {
    let policy = page.header(CONTENT_SECURITY_POLICY.as_str());
    assert!(policy.contains("script-src 'self'"), "{what}: {policy}");
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{what}: {policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{what}: {policy}");
    assert!(!policy.contains("unsafe-eval"), "{what}: {policy}");
    assert_eq!(
        page.header(X_CONTENT_TYPE_OPTIONS.as_str()),
        "nosniff",
        "{what}"
    );
    assert_eq!(page.header(CACHE_CONTROL.as_str()), "no-store", "{what}");
    // Under `no-referrer` browsers send `Origin: null` with the pages' own
    // form posts, which the cross-site check refuses.
    assert_eq!(page.header("referrer-policy"), "same-origin", "{what}");
}

#[tokio::test]
async fn pages_carry_the_security_headers() {
    let app = app_at(NOW).await;
    let visitor = Browser::new(&app);
    for path in ["/sign-in", "/sign-up"] {
        assert_page_headers(&visitor.page(path).await, path);
    }
    let forged = Page::of(visitor.post("/sign-in", &[("username", "x")]).await).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_page_headers(&forged, "the Form expired page");

    let (browser, token) = signed_in(&app, "alice").await;
    let entry = mood_at(&app, &token, NOW, 5).await;
    for path in [
        "/".to_string(),
        "/history".to_string(),
        "/settings".to_string(),
        format!("/history/{entry}/delete"),
    ] {
        assert_page_headers(&browser.page(&path).await, &path);
    }
    let missing = Page::of(browser.get("/history/999/delete").await).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_page_headers(&missing, "the Not found page");
}

#[tokio::test]
async fn assets_linked_from_pages_are_served_for_good() {
    let app = app_at(NOW).await;
    let (browser, _) = signed_in(&app, "alice").await;
    let page = browser.page("/").await;
    let urls: BTreeSet<String> = ["href", "src"]
        .into_iter()
        .flat_map(|attr| page.attr_values(attr))
        .filter(|url| url.starts_with("/assets/"))
        .collect();
    let names: BTreeSet<&str> = urls
        .iter()
        .map(|url| {
            let (name, version) = url["/assets/".len()..]
                .split_once("?v=")
                .unwrap_or_else(|| panic!("unversioned asset URL {url}"));
            assert!(!version.is_empty(), "{url}");
            name
        })
        .collect();
    assert_eq!(names, BTreeSet::from(["app.css", "app.js", "icon.svg"]));

    for url in &urls {
        let response = browser.get(url).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        let expected = match url.split('?').next() {
            Some("/assets/app.css") => "text/css",
            Some("/assets/app.js") => "text/javascript",
            _ => "image/svg+xml",
        };
        assert!(
            header(CONTENT_TYPE).starts_with(expected),
            "{url}: {}",
            header(CONTENT_TYPE)
        );
        assert!(header(CACHE_CONTROL).contains("immutable"), "{url}");
        assert_eq!(header(X_CONTENT_TYPE_OPTIONS), "nosniff", "{url}");
        assert!(!response.bytes().await.expect("body").is_empty(), "{url}");
    }

    for unknown in [
        "/assets/nope.js",
        "/assets/app.css.map",
        "/assets/..%2Fapp.rs",
    ] {
        let response = browser.get(unknown).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{unknown}");
    }
}
