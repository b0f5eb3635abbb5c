//! The phone page: a small web app for any phone's browser, served by the
//! remote listener itself from files embedded in the binary (no build step,
//! nothing fetched from elsewhere). It pairs by the QR code's URL and then
//! uses the same API as the iOS app (docs/api.md), with its token in the
//! browser's storage, never in a URL.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const INDEX: &str = include_str!("web/index.html");
const SCRIPT: &str = include_str!("web/app.js");
const STYLE: &str = include_str!("web/app.css");

/// Sent with every answer of the listener: only this origin's own script
/// and style run (no inline script, no `eval`), and the page may talk to
/// nothing but this daemon. Agent-written text is inserted as text; this
/// is the second wall if that ever failed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page's routes: `/` and `/pair` (the QR code's URL, whose code is in
/// the fragment) are the page; its script and style beside it.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/pair",
            get(|| async { file("text/html; charset=utf-8", INDEX) }),
        )
        .route(
            "/app.js",
            get(|| async { file("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/app.css",
            get(|| async { file("text/css; charset=utf-8", STYLE) }),
        )
        // Browsers ask for it unbidden; there is none.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response()
}
