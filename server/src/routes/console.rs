//! The admin console's built files, served at `/` from the same origin as the API (so the
//! session cookie works), or a page that says how to build them.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

use crate::state::AppState;

/// Serves `dir`, falling back to its `index.html` for the console's own routes.
pub(crate) fn router(dir: &Path) -> Router<AppState> {
    let index = dir.join("index.html");
    if index.is_file() {
        // The build writes .br and .gz beside each file (scripts/lib.sh: compress_console):
        // sent with Content-Encoding to browsers that accept them.
        let files = ServeDir::new(dir)
            .precompressed_br()
            .precompressed_gzip()
            .fallback(
                ServeFile::new(&index)
                    .precompressed_br()
                    .precompressed_gzip(),
            );
        let policy = content_security_policy(&std::fs::read_to_string(&index).unwrap_or_default());
        Router::new()
            .fallback_service(files)
            .layer(axum::middleware::from_fn(caching))
            .layer(axum::middleware::from_fn(no_dotfiles))
            .layer(axum::middleware::from_fn(move |request, next| {
                protect(policy.clone(), request, next)
            }))
            .layer(axum::middleware::from_fn(pages_only))
    } else {
        tracing::warn!(dir = %dir.display(), "the admin console is not built; / explains how");
        let page = not_built_page(dir);
        Router::new()
            .fallback(get(
                move || async move { (StatusCode::NOT_FOUND, Html(page)) },
            ))
            .layer(axum::middleware::from_fn(pages_only))
    }
}

/// What reaches the console: pages, read. A path under `/api/` that no route of the API took
/// is a missing resource of the API, and another method than GET or HEAD is refused; both
/// answered as the API answers, with a problem document (not the file server's empty 405, or
/// `index.html` for a mistyped API path).
async fn pages_only(request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/api/") {
        return crate::error::not_found().await.into_response();
    }
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut refused = crate::error::method_not_allowed().await.into_response();
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        return refused;
    }
    next.run(request).await
}

/// The console's Content-Security-Policy: its own files only; the one inline script Trunk
/// writes into `index.html` (which starts the module) allowed by its hash, so no other inline
/// script runs; WebAssembly compiled (`'wasm-unsafe-eval'`); never framed. Inline style
/// attributes stay allowed: the console sets widths of its bars with them.
fn content_security_policy(index: &str) -> HeaderValue {
    use base64::Engine as _;
    use sha2::Digest as _;
    let mut scripts = String::new();
    let mut rest = index;
    while let Some(start) = rest.find("<script") {
        let Some(tag_len) = rest[start..].find('>') else {
            break;
        };
        let (tag, after) = rest[start..].split_at(tag_len + 1);
        let Some(body_len) = after.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            let digest = sha2::Sha256::digest(&after.as_bytes()[..body_len]);
            let hash = base64::engine::general_purpose::STANDARD.encode(digest);
            scripts.push_str(&format!(" 'sha256-{hash}'"));
        }
        rest = &after[body_len + "</script>".len()..];
    }
    let policy = format!(
        "default-src 'self'; script-src 'self'{scripts} 'wasm-unsafe-eval'; \
         style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

/// The console's security headers on each of its responses.
async fn protect(policy: HeaderValue, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(axum::http::header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        axum::http::header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// 404 for any path with a segment starting with a dot (`/.env`, `/.git/config`): nothing
/// the console ships is one, and a file left beside it must not be served.
async fn no_dotfiles(request: Request, next: Next) -> Response {
    if request.uri().path().split('/').any(|segment| {
        segment.starts_with('.') || segment.starts_with("%2e") || segment.starts_with("%2E")
    }) {
        return StatusCode::NOT_FOUND.into_response();
    }
    next.run(request).await
}

/// Whether `path` names a file Trunk named by a hash of its contents
/// (`flowgate-web-426664a268b0ec70.js`, `…70_bg.wasm`). Trunk writes the 64-bit hash in hex
/// without leading zeros, so it may be shorter than 16 digits (one build in 16 has 15); 12 or
/// more tells it from a name's ordinary last word.
fn is_hashed(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .and_then(|name| name.split('.').next())
        .and_then(|stem| stem.rsplit_once('-'))
        .and_then(|(_, tail)| tail.split('_').next())
        .is_some_and(|hash| {
            (12..=16).contains(&hash.len()) && hash.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// `Cache-Control` by what a file is: files named by a hash of their contents never change
/// and may be kept a year; anything else (`index.html`, which names the current ones) is
/// checked again every time.
async fn caching(request: Request, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() {
        let value = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static(value),
        );
    }
    response
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Trunk's hashes lose their leading zeros: a 15-digit one is still a hash (before, such a
    /// build's files were served `no-cache`, and the browser test of their caching failed).
    #[test]
    fn hashed_names_are_told_from_the_others() {
        for hashed in [
            "/flowgate-web-426664a268b0ec70.js",
            "/flowgate-web-426664a268b0ec70_bg.wasm",
            "/flowgate-web-b31130f5dd741cc_bg.wasm.br",
            "/main-f0fc6a4241a26a40.css",
        ] {
            assert!(is_hashed(hashed), "{hashed}");
        }
        for plain in [
            "/",
            "/index.html",
            "/flowgate-web.js",
            "/main-style.css",
            "/x-cafe.js",
        ] {
            assert!(!is_hashed(plain), "{plain}");
        }
    }

    #[test]
    fn the_policy_allows_the_inline_script_by_its_hash_and_nothing_else_inline() {
        use base64::Engine as _;
        use sha2::Digest as _;
        let body = "\nimport init from '/app.js';\nawait init();\n";
        let index = format!(
            "<head><script src=\"/other.js\"></script><script type=\"module\">{body}</script></head>"
        );
        let policy = content_security_policy(&index);
        let policy = policy.to_str().unwrap();
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
        assert!(
            policy.contains(&format!(
                "script-src 'self' 'sha256-{hash}' 'wasm-unsafe-eval';"
            )),
            "{policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"));
        assert_eq!(
            policy.matches("sha256-").count(),
            1,
            "only the inline script"
        );
    }
}
