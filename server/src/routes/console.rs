//! The admin console's built files, served at `/` from the same origin as the API (so the
//! session cookie works), or a page that says how to build them.

use std::path::Path;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Html;
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

use crate::state::AppState;

/// Serves `dir`, falling back to its `index.html` for the console's own routes.
pub(crate) fn router(dir: &Path) -> Router<AppState> {
    let index = dir.join("index.html");
    if index.is_file() {
        let files = ServeDir::new(dir).fallback(ServeFile::new(index));
        Router::new().fallback_service(files)
    } else {
        tracing::warn!(dir = %dir.display(), "the admin console is not built; / explains how");
        let page = not_built_page(dir);
        Router::new().fallback(get(
            move || async move { (StatusCode::NOT_FOUND, Html(page)) },
        ))
    }
}

fn not_built_page(dir: &Path) -> String {
    format!(
        "<!doctype html><meta charset=utf-8><title>flowgate</title>\
         <h1>flowgate is running</h1>\
         <p>The admin console is not built: <code>{}</code> has no <code>index.html</code>.</p>\
         <p>Build it from the repository with <code>scripts/run</code> (which builds and starts \
         everything), or <code>trunk build --release</code>, then restart the server. \
         Set <code>FLOWGATE_CONSOLE_DIR</code> to serve it from elsewhere.</p>\
         <p>The API is at <code>/api/v1</code>; <code>/healthz</code> answers <code>ok</code>.</p>",
        html_escape(&dir.display().to_string())
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
