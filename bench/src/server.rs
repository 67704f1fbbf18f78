//! A release `flowgate-server` started by a load tool (`sse_fanout`, `soak`): a fresh SQLite
//! database in a temporary directory, the admin's password known, the server's own API limits
//! out of the way (every request of a load tool comes from one address and one token).

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

/// The admin's password in servers started here.
pub const PASSWORD: &str = "bench-admin-password";

/// A server process; killed, and its directory removed, by [`BenchServer::stop`].
pub struct BenchServer {
    /// The process.
    pub child: Child,
    /// Its process id, to read its memory and descriptors from `/proc`.
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    dir: PathBuf,
}

impl BenchServer {
    /// Starts `server` (a path to the binary) with `env` on top of the settings above, and
    /// waits until it listens.
    ///
    /// # Panics
    /// When it cannot start.
    pub async fn start(server: &str, name: &str, env: &[(&str, &str)]) -> BenchServer {
        let dir = std::env::temp_dir().join(format!("flowgate-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let mut child = tokio::process::Command::new(server)
            .env("FLOWGATE_ADDR", "127.0.0.1:0")
            .env(
                "FLOWGATE_DATABASE_URL",
                format!("sqlite://{}", dir.join("fg.db").display()),
            )
            .env("FLOWGATE_ADMIN_PASSWORD", PASSWORD)
            .env("FLOWGATE_LOG", "warn")
            .env("FLOWGATE_API_REQUESTS_PER_MINUTE", "1000000")
            .env("FLOWGATE_API_REQUESTS_PER_HOUR", "100000000")
            .env("FLOWGATE_API_REQUESTS_PER_DAY", "1000000000")
            .env("FLOWGATE_API_MAX_BURST", "1000000")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the server");
        let pid = child.id().expect("pid");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let base = loop {
            let line = lines
                .next_line()
                .await
                .expect("read")
                .expect("server exited");
            if let Some(url) = line.strip_prefix("flowgate listening on ") {
                break url.to_string();
            }
        };
        BenchServer {
            child,
            pid,
            base,
            dir,
        }
    }

    /// A session of the admin: the cookie (`flowgate_session=…`).
    ///
    /// # Errors
    /// What went wrong, as text.
    pub async fn login(&self, http: &reqwest::Client) -> Result<String, String> {
        let r = http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"username": "admin", "password": PASSWORD}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("login: {}", r.status()));
        }
        r.headers()
            .get("set-cookie")
            .and_then(|c| c.to_str().ok())
            .and_then(|c| c.split(';').next())
            .map(str::to_string)
            .ok_or_else(|| "no session cookie".into())
    }

    /// A new API token of the admin, as an `Authorization` value (`Bearer …`).
    ///
    /// # Panics
    /// When the server refuses.
    pub async fn bearer(&self, http: &reqwest::Client) -> String {
        let cookie = self.login(http).await.expect("login");
        let token: Value = http
            .post(format!("{}/api/v1/tokens", self.base))
            .header("cookie", &cookie)
            .header("origin", &self.base)
            .json(&json!({"name": "bench"}))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        format!("Bearer {}", token["token"].as_str().expect("token"))
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`), 0 if unreadable.
    #[must_use]
    pub fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Kills the server and removes its directory.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
