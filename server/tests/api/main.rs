//! The HTTP API driven through the router (no socket), on a real SQLite file: one test binary,
//! a module per area.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod http;
mod limits;
mod retry;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use common::{ADMIN_PASSWORD, Auth, HOST, ORIGIN, Reply, TestApp, assert_problem};
use flowgate_core::ratelimit::RateLimitConfig;
use serde_json::json;
