//! The OpenAPI document against the server that serves it: every documented route answers
//! (and takes no method the document lacks), every route in the server's source is documented,
//! and the document is whole (operation ids unique, every reference defined). Its validity
//! against the OpenAPI 3.1 schema is checked in Node (`tests/openapi`).

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use flowgate_tests::{Auth, Body, Server};
use reqwest::{Method, StatusCode};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// A server, and the document it serves.
async fn served() -> (tempfile::TempDir, Server, Value) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let doc = server
        .client()
        .get("/api/v1/openapi.json", Auth::None)
        .await
        .json;
    (dir, server, doc)
}

/// `(path, method)` of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("a path item");
            item.keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect()
}

/// A documented path with its parameters filled in.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1").replace("{key}", "some-key")
}

/// The router's own refusal for a path it does not route (not a handler's "no such task").
fn unrouted(status: StatusCode, body: &Value) -> bool {
    status == StatusCode::NOT_FOUND && body["detail"] == "no such resource"
}

#[tokio::test]
async fn every_documented_route_answers_and_takes_only_its_documented_methods() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let c = server.client();
    // Open to anyone: no credentials.
    let reply = c.get("/api/v1/openapi.json", Auth::None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.headers["content-type"], "application/json");
    let doc = reply.json;
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = operations(&doc);
    assert!(documented.len() > 30, "{documented:?}");

    // Without credentials nothing changes, yet each route still tells itself apart from a
    // path the server does not route (401, 415, 200 ... but never its 404 or a 405).
    for (path, method) in &documented {
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let reply = c
            .send(m.clone(), &concrete(path), Body::None, Auth::None)
            .await;
        assert!(
            !unrouted(reply.status, &reply.json) && reply.status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but answered {}: {}",
            reply.status,
            reply.text
        );
        for other in METHODS
            .iter()
            .filter(|o| !documented.contains(&(path.clone(), o.to_string())))
        {
            let m = Method::from_bytes(other.to_uppercase().as_bytes()).unwrap();
            let reply = c.send(m, &concrete(path), Body::None, Auth::None).await;
            assert_eq!(
                reply.status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{other} {path} is not documented but answered: {}",
                reply.text
            );
        }
    }
    // The test can tell: a path nobody routes is the router's 404.
    let reply = c.get("/api/v1/no-such-thing", Auth::None).await;
    assert!(unrouted(reply.status, &reply.json), "{}", reply.text);
}

/// Every string literal given to `.route(` in the server's source.
fn routed_in_source(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            routed_in_source(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            let compact: String = text.split_whitespace().collect();
            for piece in compact.split(".route(\"").skip(1) {
                found.insert(piece.split('"').next().unwrap().to_string());
            }
        }
    }
}

#[tokio::test]
async fn no_route_is_left_out_of_the_document() {
    let (_dir, _server, doc) = served().await;
    let paths: HashSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    // The server routes through `routes!` (which documents what it routes); a route added
    // beside it with a plain `.route(...)` must be documented as well.
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src");
    let mut routed = BTreeSet::new();
    routed_in_source(&source, &mut routed);
    for path in &routed {
        assert!(
            paths.contains(path.as_str()),
            "{path} is routed in server/src but not in the OpenAPI document"
        );
    }
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => found.push(r),
                    _ => refs(v, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_whole() {
    let (_dir, _server, doc) = served().await;
    let mut ids = HashSet::new();
    for (path, method) in operations(&doc) {
        let op = &doc["paths"][&path][&method];
        let id = op["operationId"].as_str().expect("an operationId");
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
        // A path parameter is one the path names, and the path names no other.
        let in_path: BTreeSet<&str> = op["parameters"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let named: BTreeSet<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        assert_eq!(in_path, named, "{method} {path}: path parameters");
    }
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("{r} is not a schema reference"));
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} is referenced but not defined"
        );
    }
    // Both credentials are described, and the open routes need neither.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["in"], "cookie");
    for open in [
        "/healthz",
        "/readyz",
        "/api/v1/auth/login",
        "/api/v1/openapi.json",
    ] {
        let item = doc["paths"][open].as_object().unwrap();
        for op in item.values() {
            assert_eq!(op["security"], serde_json::json!([{}]), "{open}");
        }
    }
}
