// Starts the real flowgate-server (FLOWGATE_SERVER_BIN) on a fresh database with the built
// console (FLOWGATE_CONSOLE_DIR, default dist/), and Debian's Chromium through playwright-core.

import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

export const ROOT = resolve(import.meta.dirname, "../..");
export const ADMIN_PASSWORD = "browser-test-password";
export const SCREENSHOTS = join(ROOT, "tests/screenshots");
mkdirSync(SCREENSHOTS, { recursive: true });

/** A free port on loopback (so that a restarted server can come back on the same one). */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** A server process: start, stop, restart on the same database and port. */
export class Server {
  constructor(dir, port) {
    this.dir = dir;
    this.port = port;
    this.base = `http://127.0.0.1:${port}`;
    this.logs = "";
  }

  static async start() {
    const server = new Server(mkdtempSync(join(tmpdir(), "flowgate-browser-")), await freePort());
    await server.spawn();
    return server;
  }

  spawn() {
    const bin = process.env.FLOWGATE_SERVER_BIN ?? join(ROOT, "target/debug/flowgate-server");
    this.child = spawn(bin, [], {
      env: {
        PATH: process.env.PATH,
        FLOWGATE_ADDR: `127.0.0.1:${this.port}`,
        FLOWGATE_DATABASE_URL: `sqlite://${join(this.dir, "flowgate.db")}`,
        FLOWGATE_ADMIN_PASSWORD: ADMIN_PASSWORD,
        FLOWGATE_CONSOLE_DIR: process.env.FLOWGATE_CONSOLE_DIR ?? join(ROOT, "dist"),
        FLOWGATE_LOG: "info",
        // Every test signs in afresh, more often than the login limiter lets one address (its
        // own tests are in server/tests/api.rs). The burst is capped by the minute's limit.
        FLOWGATE_LOGIN_REQUESTS_PER_MINUTE: "600",
        FLOWGATE_LOGIN_REQUESTS_PER_HOUR: "6000",
        FLOWGATE_LOGIN_MAX_BURST: "100",
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stderr.on("data", (d) => (this.logs += d));
    return new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`the server did not start:\n${this.logs}`)), 30_000);
      this.child.stdout.on("data", (d) => {
        if (String(d).includes("flowgate listening on")) {
          clearTimeout(timer);
          ok();
        }
      });
      this.child.once("exit", (code) => fail(new Error(`the server exited with ${code}:\n${this.logs}`)));
    });
  }

  stop() {
    return new Promise((ok) => {
      if (this.child.exitCode !== null) return ok();
      this.child.once("exit", () => ok());
      this.child.kill("SIGTERM");
    });
  }

  async restart() {
    await this.stop();
    await this.spawn();
  }

  /** Calls the API with a bearer token (or none). */
  async api(method, path, body, token) {
    const headers = { "content-type": "application/json" };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : null };
  }

  /** Logs in as admin over HTTP and returns an API token. */
  async adminToken() {
    const login = await fetch(`${this.base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "admin", password: ADMIN_PASSWORD }),
    });
    const cookie = login.headers.get("set-cookie").split(";")[0];
    const res = await fetch(`${this.base}/api/v1/tokens`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, origin: this.base },
      body: JSON.stringify({ name: "browser-test" }),
    });
    return (await res.json()).token;
  }
}

/** Debian's Chromium, headless, kept off the network it cannot reach. */
export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** Signs in through the console's form. */
export async function signIn(page, base) {
  await page.goto(base);
  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill(ADMIN_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Screens" }).waitFor();
}
