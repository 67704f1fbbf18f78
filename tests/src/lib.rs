//! End-to-end tests of flowgate across its parts. This library starts the real
//! `flowgate-server` binary on `127.0.0.1:0` against a fresh SQLite file and talks to it over
//! HTTP; the tests live in `tests/`.

pub mod inputs;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The first admin's password in every test server.
pub const ADMIN_PASSWORD: &str = "e2e-admin-password";

/// The key that seals platform tokens in test servers on PostgreSQL (where it is required).
pub const SECRET_KEY: &str = "ZmxvdGdhdGUtdGVzdC1rZXktMzItYnl0ZXMtbG9uZyE=";

/// Server settings with enough API allowance that a test sending thousands of requests is
/// never limited by the server's own API limiter (the load or the input is the point).
pub const UNLIMITED_API: &[(&str, &str)] = &[
    ("FLOWGATE_API_REQUESTS_PER_MINUTE", "1000000"),
    ("FLOWGATE_API_REQUESTS_PER_HOUR", "10000000"),
    ("FLOWGATE_API_REQUESTS_PER_DAY", "100000000"),
    ("FLOWGATE_API_MAX_BURST", "1000000"),
];

/// The PostgreSQL cluster the suites run against instead of SQLite, when scripts/test's second
/// run names one in `FLOWGATE_TEST_DATABASE_URL`.
pub fn postgres_cluster() -> Option<String> {
    std::env::var("FLOWGATE_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// The database of a test server whose files are in `dir`: a SQLite file there, or on the
/// PostgreSQL cluster of [`postgres_cluster`] a database made for `dir` (empty when first
/// asked for, and the same one again for a restart in the same folder, as the file would be).
pub async fn database_for(dir: &Path) -> String {
    match postgres_cluster() {
        None => format!("sqlite://{}", dir.join("flowgate.db").display()),
        Some(cluster) => postgres_database(&cluster, dir).await,
    }
}

/// A PostgreSQL cluster for the tests of several servers: `FLOWGATE_TEST_POSTGRES` (which
/// scripts/test sets for the whole run), else the suites' cluster.
pub fn postgres_for_several_servers() -> String {
    std::env::var("FLOWGATE_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(postgres_cluster)
        .expect(
            "the tests of several servers need PostgreSQL: run scripts/test, or set \
             FLOWGATE_TEST_POSTGRES=postgres://user@host:port/postgres",
        )
}

/// The database of `cluster` made for `dir`: created empty when first asked for, the same one
/// when asked for again.
pub async fn postgres_database(cluster: &str, dir: &Path) -> String {
    use sqlx::Connection as _;
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::hash::DefaultHasher::new();
    dir.hash(&mut hasher);
    let name = format!("fg_test_{:016x}", hasher.finish());
    let mut admin = sqlx::PgConnection::connect(cluster)
        .await
        .unwrap_or_else(|e| panic!("connecting to the PostgreSQL cluster {cluster}: {e}"));
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .expect("looking for the test database");
    if !exists {
        // From template0: template1 may be in use by another test making its database.
        sqlx::query(&format!("CREATE DATABASE {name} TEMPLATE template0"))
            .execute(&mut admin)
            .await
            .expect("creating a test database");
    }
    let _ = admin.close().await;
    let (server, _) = cluster.rsplit_once('/').expect("a database URL");
    format!("{server}/{name}")
}

/// The server binary: `FLOWGATE_SERVER_BIN`, else `flowgate-server` in this test's target
/// directory (`scripts/test` builds it first).
pub fn server_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("FLOWGATE_SERVER_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/flowgate-server
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("flowgate-server"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p flowgate-server` (scripts/test does)",
        bin.display()
    );
    bin
}

/// A running server process with its own database directory.
pub struct Server {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// What the server printed before it was listening (such as the address of its metrics).
    pub started_output: String,
    /// What the server wrote to stderr and stdout (its logs), collected as it runs.
    pub logs: std::sync::Arc<std::sync::Mutex<String>>,
    child: Child,
    dir: PathBuf,
    env: Vec<(String, String)>,
    wrapper: Vec<String>,
}

impl Server {
    /// Starts a server on a fresh database in `dir`, with extra environment variables.
    pub async fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
        Self::start_wrapped(dir, env, &[]).await
    }

    /// Starts a server as [`Server::start`] does, run by a wrapper command (such as `unshare`)
    /// that is given the server binary as its last argument (none: the server itself).
    pub async fn start_wrapped(dir: &Path, env: &[(&str, &str)], wrapper: &[&str]) -> Server {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let wrapper = wrapper.iter().map(ToString::to_string).collect();
        Self::spawn(dir.to_path_buf(), env, wrapper).await
    }

    async fn spawn(dir: PathBuf, env: Vec<(String, String)>, wrapper: Vec<String>) -> Server {
        let mut command = match wrapper.split_first() {
            None => Command::new(server_binary()),
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(server_binary());
                command
            }
        };
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("FLOWGATE_ADDR", "127.0.0.1:0")
            .env("FLOWGATE_DATABASE_URL", database_for(&dir).await)
            // Required on PostgreSQL; on SQLite the key file beside the database is what users
            // get by default.
            .envs(postgres_cluster().map(|_| ("FLOWGATE_SECRET_KEY", SECRET_KEY)))
            .env("FLOWGATE_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("FLOWGATE_CONSOLE_DIR", dir.join("no-console"))
            .env("FLOWGATE_LOG", "info,tower_http=debug")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start flowgate-server");
        let logs = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = logs.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let mut logs = sink
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        // Logs go to stdout: what the server said before listening explains a failed start.
        let mut said = String::new();
        let started = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix("flowgate listening on ") {
                    return Some(url.to_string());
                }
                said.push_str(&line);
                said.push('\n');
            }
            None
        })
        .await;
        let Ok(Some(base)) = started else {
            let status = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
            // Let the stderr reader catch up with what the server wrote before it stopped.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let logs = logs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            panic!(
                "flowgate-server did not start listening ({status:?}); its stdout:\n{said}\n\
                 its stderr:\n{logs}"
            );
        };
        let sink = logs.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let mut logs = sink
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        Server {
            base,
            started_output: said,
            logs,
            child,
            dir,
            env,
            wrapper,
        }
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub async fn stop(mut self) -> PathBuf {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the server did not stop within 20 s of SIGTERM")
            .expect("wait");
        assert!(status.success(), "the server exited with {status}");
        self.dir.clone()
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub async fn kill(mut self) -> PathBuf {
        self.child.kill().await.expect("kill");
        self.dir.clone()
    }

    /// The process id of the server (or of the wrapper it was started by, which `exec`s it).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the server is running")
    }

    /// Starts the server again on the same database and environment.
    pub async fn restart(self) -> Server {
        let (env, wrapper) = (self.env.clone(), self.wrapper.clone());
        let dir = self.stop().await;
        Self::spawn(dir, env, wrapper).await
    }

    /// Everything the server has stored, as bytes: its SQLite file and write-ahead log, or a
    /// dump of its PostgreSQL database (`pg_dump`, where binary values appear as hex: they are
    /// given as hex too, after the raw bytes).
    pub async fn stored_data(&self) -> Vec<u8> {
        let url = database_for(&self.dir).await;
        if url.starts_with("sqlite:") {
            let mut data = std::fs::read(self.dir.join("flowgate.db")).unwrap_or_default();
            data.extend(std::fs::read(self.dir.join("flowgate.db-wal")).unwrap_or_default());
            return data;
        }
        let dump = Command::new("pg_dump")
            .args(["--data-only", &url])
            .output()
            .await
            .expect("pg_dump (PostgreSQL's client) must be installed");
        assert!(
            dump.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&dump.stderr)
        );
        dump.stdout
    }

    /// The logs so far.
    pub fn logs(&self) -> String {
        self.logs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A client for this server.
    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: reqwest::Client::new(),
        }
    }
}

/// How a request authenticates.
#[derive(Clone, Copy, Debug)]
pub enum Auth<'a> {
    /// Not at all.
    None,
    /// With a session cookie (and the console's Origin).
    Cookie(&'a str),
    /// With a bearer token.
    Bearer(&'a str),
}

/// `text` read as `T`; panics showing the text when it is anything else.
fn parsed<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("not a {}: {e}: {text}", std::any::type_name::<T>()))
}

/// An answer: status, headers, and the body as JSON (`Null` when it is not JSON) and text.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON.
    pub json: Value,
    /// The body as text.
    pub text: String,
}

impl Reply {
    /// The body read as the API's type `T` (`flowgate_core::api`): panics, showing the body,
    /// when the server wrote anything else.
    pub fn body<T: serde::de::DeserializeOwned>(&self) -> T {
        parsed(&self.text)
    }

    /// Asserts a problem document with `status`; returns its `errors` pointers.
    pub fn problem(&self, status: StatusCode) -> Vec<String> {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.headers[CONTENT_TYPE], "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.json["status"], status.as_u16(), "{}", self.text);
        assert!(self.json["detail"].is_string(), "{}", self.text);
        self.json["errors"]
            .as_array()
            .map(|e| {
                e.iter()
                    .map(|e| e["pointer"].as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// An HTTP client bound to one server.
#[derive(Clone)]
pub struct Client {
    /// The server's base URL.
    pub base: String,
    http: reqwest::Client,
}

impl Client {
    /// A client for a server at `base`.
    pub fn new_for(base: &str) -> Client {
        Client {
            base: base.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends `method path` with an optional JSON body (or raw text with its content type).
    pub async fn send(&self, method: Method, path: &str, body: Body<'_>, auth: Auth<'_>) -> Reply {
        self.try_send(method, path, body, auth)
            .await
            .expect("request")
    }

    /// Sends as [`Client::send`] does; `Err` when no whole answer came (the connection was
    /// refused or broke: the server died).
    pub async fn try_send(
        &self,
        method: Method,
        path: &str,
        body: Body<'_>,
        auth: Auth<'_>,
    ) -> Result<Reply, reqwest::Error> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        req = match auth {
            Auth::None => req,
            Auth::Cookie(c) => req
                .header(COOKIE, format!("flowgate_session={c}"))
                .header(ORIGIN, &self.base),
            Auth::Bearer(t) => req.header(AUTHORIZATION, format!("Bearer {t}")),
        };
        req = match body {
            Body::None => req,
            Body::Json(v) => req
                .header(CONTENT_TYPE, "application/json")
                .body(v.to_string()),
            Body::Raw(content_type, text) => req
                .header(CONTENT_TYPE, content_type)
                .body(text.to_string()),
        };
        let response = req.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply {
            status,
            headers,
            json,
            text,
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Reply {
        self.send(Method::GET, path, Body::None, auth).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value, auth: Auth<'_>) -> Reply {
        self.send(Method::POST, path, Body::Json(body), auth).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: &Value, auth: Auth<'_>) -> Reply {
        self.send(Method::PUT, path, Body::Json(body), auth).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str, auth: Auth<'_>) -> Reply {
        self.send(Method::DELETE, path, Body::None, auth).await
    }

    /// A new task (no settings) of the user `auth` names; returns its id.
    pub async fn task(&self, auth: Auth<'_>) -> String {
        let r = self
            .post("/api/v1/tasks", &serde_json::json!({}), auth)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["task_id"].as_str().expect("task_id").to_string()
    }

    /// Logs in; returns the session cookie's value.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/v1/auth/login",
                &serde_json::json!({"username": username, "password": password}),
                Auth::None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let cookie = r.headers[SET_COOKIE].to_str().expect("cookie");
        cookie
            .strip_prefix("flowgate_session=")
            .and_then(|c| c.split(';').next())
            .expect("session cookie")
            .to_string()
    }

    /// Logs in as admin and creates an API token; returns (cookie, token).
    pub async fn admin(&self) -> (String, String) {
        let cookie = self.login("admin", ADMIN_PASSWORD).await;
        let token = self.token(&cookie, "e2e").await;
        (cookie, token)
    }

    /// A new API token for the user of `cookie`.
    pub async fn token(&self, cookie: &str, name: &str) -> String {
        let r = self
            .post(
                "/api/v1/tokens",
                &serde_json::json!({"name": name}),
                Auth::Cookie(cookie),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json["token"].as_str().expect("token").to_string()
    }

    /// Creates a user (as the admin of `admin_cookie`) and logs them in; returns their cookie.
    pub async fn user(&self, admin_cookie: &str, name: &str) -> String {
        let body =
            serde_json::json!({"username": name, "password": "e2e-user-password", "role": "user"});
        let r = self
            .post("/api/v1/users", &body, Auth::Cookie(admin_cookie))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        self.login(name, "e2e-user-password").await
    }
}

/// A request body.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// None.
    None,
    /// JSON.
    Json(&'a Value),
    /// Raw text with a content type.
    Raw(&'a str, &'a str),
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// `event:` (`message` when absent).
    pub event: String,
    /// `id:`.
    pub id: Option<String>,
    /// `data:` lines joined by newlines.
    pub data: String,
    /// `retry:`.
    pub retry: Option<u64>,
}

impl SseEvent {
    /// The data as the API's type `T` (a task's progress is `flowgate_core::api::Task`).
    pub fn body<T: serde::de::DeserializeOwned>(&self) -> T {
        parsed(&self.data)
    }

    /// The data as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// A Server-Sent Events stream being read.
pub struct SseStream {
    /// The response's status.
    pub status: StatusCode,
    /// The response's headers.
    pub headers: reqwest::header::HeaderMap,
    response: Option<reqwest::Response>,
    buffer: String,
    /// Comments seen (keep-alives).
    pub comments: usize,
}

impl SseStream {
    /// Opens `path` as an event stream, optionally resuming after `last_event_id`.
    pub async fn open(
        client: &Client,
        path: &str,
        auth: Auth<'_>,
        last_event_id: Option<u64>,
    ) -> SseStream {
        Self::try_open(client, path, auth, last_event_id)
            .await
            .expect("open event stream")
    }

    /// Opens as [`SseStream::open`] does; `Err` when the server did not answer.
    pub async fn try_open(
        client: &Client,
        path: &str,
        auth: Auth<'_>,
        last_event_id: Option<u64>,
    ) -> Result<SseStream, reqwest::Error> {
        let mut req = client
            .http
            .get(format!("{}{path}", client.base))
            .header("accept", "text/event-stream");
        req = match auth {
            Auth::None => req,
            Auth::Cookie(c) => req.header(COOKIE, format!("flowgate_session={c}")),
            Auth::Bearer(t) => req.header(AUTHORIZATION, format!("Bearer {t}")),
        };
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let response = req.send().await?;
        Ok(SseStream {
            status: response.status(),
            headers: response.headers().clone(),
            response: Some(response),
            buffer: String::new(),
            comments: 0,
        })
    }

    /// The next event, or `None` when the stream ends. Panics after `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Option<SseEvent> {
        tokio::time::timeout(timeout, self.next_event())
            .await
            .expect("no event within the timeout")
    }

    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    id: None,
                    data: String::new(),
                    retry: None,
                };
                let mut has_field = false;
                let mut data_lines = Vec::new();
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                        continue;
                    }
                    let (field, value) = line
                        .split_once(':')
                        .map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
                    has_field = true;
                    match field {
                        "event" => event.event = value.to_string(),
                        "id" => event.id = Some(value.to_string()),
                        "data" => data_lines.push(value.to_string()),
                        "retry" => event.retry = value.parse().ok(),
                        _ => {}
                    }
                }
                if has_field {
                    event.data = data_lines.join("\n");
                    return Some(event);
                }
                continue;
            }
            let chunk = self.response.as_mut()?.chunk().await.ok()??;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// A private `redis-server` on a loopback port, in a temporary directory, with no persistence:
/// what the tests of the several-servers mode share, stop, freeze and start again.
pub struct Redis {
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

/// A loopback port nobody listens on now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

impl Redis {
    /// Starts one; panics naming the missing tool when `redis-server` is not installed
    /// (`scripts/test` installs it).
    pub async fn start() -> Redis {
        let mut redis = Redis {
            url: String::new(),
            port: free_port(),
            dir: tempfile::tempdir().expect("temporary directory"),
            child: None,
        };
        redis.url = format!("redis://127.0.0.1:{}", redis.port);
        redis.resume().await;
        redis
    }

    /// Starts it again on the same port (after [`Redis::stop`]), empty.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "redis-server is already running");
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting redis-server ({e}): install it (apt-get install redis-server; scripts/test does)")
            });
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "redis-server did not listen on port {} within 5 s",
            self.port
        );
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server is not running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} redis-server");
    }

    /// Stops it (SIGTERM): connections are refused at once until [`Redis::resume`].
    pub fn stop(&mut self) {
        if self.child.is_some() {
            self.signal("TERM");
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
    }

    /// Freezes it (SIGSTOP): connections open but nothing answers, a hang.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Thaws it after [`Redis::freeze`].
    pub fn thaw(&self) {
        self.signal("CONT");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A private PostgreSQL cluster in a temporary directory on a loopback port, for the tests that
/// stop the database under a running server (the shared cluster of the other tests must stay
/// up). `initdb` and `postgres` refuse to run as root: as root they run as `postgres`.
pub struct Postgres {
    /// `postgres://postgres@127.0.0.1:<port>/postgres`.
    pub url: String,
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// Makes and starts a cluster; panics naming what is missing (`scripts/test` installs
    /// PostgreSQL).
    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
                    .filter(|bin| bin.join("initdb").exists())
                    .max()
            })
            .expect("PostgreSQL's server programs are not installed (scripts/test installs them)");
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("pg");
        std::fs::create_dir(&data).expect("data directory");
        let root = Self::is_root();
        if root {
            std::fs::set_permissions(
                dir.path(),
                std::os::unix::fs::PermissionsExt::from_mode(0o755),
            )
            .expect("chmod");
            let chown = std::process::Command::new("chown")
                .args(["postgres"])
                .arg(&data)
                .status()
                .expect("chown");
            assert!(chown.success(), "chown postgres {}", data.display());
        }
        let postgres = Postgres {
            url: String::new(),
            bin,
            data,
            port: free_port(),
            _dir: dir,
        };
        let initdb = postgres.run("initdb", &["-A", "trust", "-U", "postgres", "-D"]);
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let mut postgres = postgres;
        postgres.url = format!("postgres://postgres@127.0.0.1:{}/postgres", postgres.port);
        postgres.resume();
        postgres
    }

    fn is_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    }

    /// Runs one of PostgreSQL's programs with `args` and then the data directory.
    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        let program = self.bin.join(program);
        let mut command = if Self::is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            std::process::Command::new(program)
        };
        command
            .args(args)
            .arg(&self.data)
            .output()
            .expect("running PostgreSQL")
    }

    /// Starts it (again, after [`Postgres::crash`]) and waits until it accepts connections.
    pub fn resume(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log");
        let log = log.to_str().expect("a UTF-8 path");
        let out = self.run(
            "pg_ctl",
            &["-w", "-t", "30", "-l", log, "-o", &options, "start", "-D"],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops it at once, as a crash would (`pg_ctl stop -m immediate`): connections drop and
    /// new ones are refused until [`Postgres::resume`].
    pub fn crash(&self) {
        let out = self.run("pg_ctl", &["-m", "immediate", "-w", "stop", "-D"]);
        assert!(
            out.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self.run("pg_ctl", &["-m", "immediate", "-w", "stop", "-D"]);
    }
}

/// Serves `app` on 127.0.0.1:0 with its peer addresses recorded, as a user of the tower layer
/// serves theirs; returns its base URL.
pub async fn serve_app(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).await.expect("serving");
    });
    format!("http://{addr}")
}
