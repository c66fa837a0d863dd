//! The web app's static files, compiled into the binary so that `moodlog`
//! alone serves the whole app and pages load nothing from other hosts.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::error::PageError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// A digest of the body, put in the URL: a new build gets new URLs, so
    /// browsers may keep each version for good.
    version: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        (
            "app.css",
            "text/css; charset=utf-8",
            include_bytes!("assets/app.css").as_slice(),
        ),
        (
            "app.js",
            "text/javascript; charset=utf-8",
            include_bytes!("assets/app.js").as_slice(),
        ),
        (
            "icon.svg",
            "image/svg+xml",
            include_bytes!("assets/icon.svg").as_slice(),
        ),
    ]
    .into_iter()
    .map(|(name, content_type, body)| Asset {
        name,
        content_type,
        body,
        version: URL_SAFE_NO_PAD.encode(&Sha256::digest(body)[..9]),
    })
    .collect()
});

/// The versioned URL of an asset.
pub fn url(name: &str) -> String {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .expect("only names of bundled assets are asked for");
    format!("/assets/{}?v={}", asset.name, asset.version)
}

pub async fn serve(Path(name): Path<String>) -> Result<Response, PageError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or(PageError::NotFound)?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        asset.body,
    )
        .into_response())
}
