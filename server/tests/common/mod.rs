//! Drives the router without a socket, against a real SQLite file in a temporary directory, or
//! a PostgreSQL database of its own when the suite runs on PostgreSQL.

#![allow(dead_code, unreachable_pub)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use flowgate_server::{AppState, ServerConfig, app};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";
pub const HOST: &str = "flowgate.test";
pub const ORIGIN: &str = "http://flowgate.test";

pub struct TestApp {
    pub dir: tempfile::TempDir,
    pub state: AppState,
    pub router: Router,
}

/// How a request authenticates.
#[derive(Clone, Copy)]
pub enum Auth<'a> {
    None,
    Cookie(&'a str),
    /// A cookie without the Origin header the console would send.
    CookieNoOrigin(&'a str),
    Bearer(&'a str),
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl TestApp {
    pub async fn new() -> TestApp {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut ServerConfig)) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Self::config(&dir).await;
        adjust(&mut config);
        let state = AppState::open(config).await.unwrap();
        let router = app(state.clone());
        TestApp { dir, state, router }
    }

    /// A configuration on a fresh database: a SQLite file in `dir`, or a PostgreSQL database
    /// when the suite runs on PostgreSQL (`FLOWGATE_TEST_DATABASE_URL`).
    pub async fn config(dir: &tempfile::TempDir) -> ServerConfig {
        let mut config = ServerConfig::new(flowgate_tests::database_for(dir.path()).await);
        if flowgate_tests::postgres_cluster().is_some() {
            config.secret_key = Some(flowgate_tests::SECRET_KEY.into());
        }
        config.admin_password = Some(ADMIN_PASSWORD.into());
        config.console_dir = dir.path().join("no-console");
        config
    }

    /// Reopens the same database, as a restarted server would.
    pub async fn restart(self) -> TestApp {
        let TestApp { dir, state, .. } = self;
        let config = state.config.clone();
        state.store.close().await;
        drop(state);
        let state = AppState::open(config).await.unwrap();
        let router = app(state.clone());
        TestApp { dir, state, router }
    }

    pub async fn raw(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        auth: Auth<'_>,
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, HOST);
        match auth {
            Auth::None => {}
            Auth::Cookie(c) => {
                builder = builder
                    .header(header::COOKIE, format!("flowgate_session={c}"))
                    .header(header::ORIGIN, ORIGIN);
            }
            Auth::CookieNoOrigin(c) => {
                builder = builder.header(header::COOKIE, format!("flowgate_session={c}"))
            }
            Auth::Bearer(t) => {
                builder = builder.header(header::AUTHORIZATION, format!("Bearer {t}"))
            }
        }
        let body = match body {
            Some(v) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.raw(builder.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Reply {
        self.call(Method::GET, path, None, auth).await
    }

    pub async fn post(&self, path: &str, body: Value, auth: Auth<'_>) -> Reply {
        self.call(Method::POST, path, Some(body), auth).await
    }

    pub async fn put(&self, path: &str, body: Value, auth: Auth<'_>) -> Reply {
        self.call(Method::PUT, path, Some(body), auth).await
    }

    pub async fn patch(&self, path: &str, body: Value, auth: Auth<'_>) -> Reply {
        self.call(Method::PATCH, path, Some(body), auth).await
    }

    /// A login attempt, whatever its answer.
    pub async fn try_login(&self, username: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/login",
            serde_json::json!({"username": username, "password": password}),
            Auth::None,
        )
        .await
    }

    /// Logs in; returns the session cookie's value.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self.try_login(username, password).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let cookie = r.headers[header::SET_COOKIE].to_str().unwrap().to_string();
        cookie
            .strip_prefix("flowgate_session=")
            .and_then(|c| c.split(';').next())
            .unwrap()
            .to_string()
    }

    pub async fn admin_cookie(&self) -> String {
        self.login("admin", ADMIN_PASSWORD).await
    }

    /// A new API token for the user of `cookie`.
    pub async fn token(&self, cookie: &str) -> String {
        let r = self
            .post(
                "/api/v1/tokens",
                serde_json::json!({"name": "worker"}),
                Auth::Cookie(cookie),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.body["token"].as_str().unwrap().to_string()
    }

    /// Creates a plain user (as admin) and returns its session cookie.
    pub async fn user(&self, admin: &str, name: &str) -> String {
        let r = self
            .post(
                "/api/v1/users",
                serde_json::json!({"username": name, "password": "user-password", "role": "user"}),
                Auth::Cookie(admin),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        self.login(name, "user-password").await
    }
}

/// Asserts `r` is a problem document with `status`; returns its `errors` pointers.
pub fn assert_problem(r: &Reply, status: StatusCode) -> Vec<String> {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{}",
        r.text
    );
    assert_eq!(r.body["status"], status.as_u16());
    assert!(
        r.body["title"].is_string() && r.body["detail"].is_string(),
        "{}",
        r.text
    );
    r.body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|e| e["pointer"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}
