// The admin console in real Chromium against the real server binary. Every run saves a
// screenshot of each screen under tests/screenshots/.

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ADMIN_PASSWORD, Server, SCREENSHOTS, launch, signIn } from "./harness.mjs";

let server;
let browser;
let errors = [];

before(async () => {
  server = await Server.start();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function page(viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const p = await context.newPage();
  p.on("pageerror", (e) => errors.push(String(e)));
  p.on("console", (m) => m.type() === "error" && !m.text().includes("Failed to load resource") && errors.push(m.text()));
  return p;
}

/** The input's value once it is `expected`, or what it holds after 5 s: the form may render
 * before the document it shows has arrived. */
async function settledValue(input, expected) {
  for (let i = 0; i < 50 && (await input.inputValue()) !== expected; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return input.inputValue();
}

const shot = (p, name) => p.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

test("sign in, see a validation error for a bad value, change a limit and see it after a reload", async () => {
  const p = await page();
  // The console's module arrives compressed (the build writes .br and .gz beside each file)
  // and, named by its hash, may be kept for a year.
  const wasm = p.waitForResponse((r) => r.url().endsWith(".wasm"));
  const document = await p.goto(server.base);
  // The console runs under its Content-Security-Policy (any refusal would show as a script
  // error in "no script errors on any screen").
  assert.match(document.headers()["content-security-policy"], /script-src 'self' 'sha256-[^']+' 'wasm-unsafe-eval'/);
  assert.equal(document.headers()["x-content-type-options"], "nosniff");
  const module = await wasm;
  assert.ok(["br", "gzip"].includes(module.headers()["content-encoding"]), JSON.stringify(module.headers()));
  assert.match(module.headers()["cache-control"], /immutable/);
  await shot(p, "login");
  await signIn(p, server.base);
  await assert.doesNotReject(p.getByText("admin", { exact: true }).first().waitFor());
  await p.goto(`${server.base}/limits`);
  const perMinute = p.getByLabel("Requests per minute");
  await perMinute.waitFor();
  assert.equal(await settledValue(perMinute, "60"), "60");
  // The version line comes from its own request (the history), so it may arrive after the form.
  await p.locator(".meta").filter({ hasText: /Version 1 · changed by environment/ }).waitFor();

  // A bad value is marked before saving, and Save stays off.
  await perMinute.fill("0");
  const alert = p.locator(".field.invalid", { has: perMinute }).getByRole("alert");
  assert.equal(await alert.textContent(), "must be a positive integer");
  assert.equal(await p.getByRole("button", { name: "Save" }).isDisabled(), true);
  await perMinute.fill("abc");
  await alert.waitFor();

  // A good one saves, and is there after a reload.
  await perMinute.fill("45");
  await p.getByRole("button", { name: "Add a row" }).first().click();
  await p.locator(".scope").first().getByLabel("Endpoint").fill("media");
  await p.locator(".scope").first().getByLabel("Per minute").fill("10");
  // A platform allowed more than the global minute: its row overrides the global windows.
  const platforms = p.locator(".scope").nth(1);
  await platforms.getByRole("button", { name: "Add a row" }).click();
  await platforms.getByLabel("Platform").fill("mastodon");
  await platforms.getByLabel("Per minute").fill("300");
  await platforms.getByLabel("Overrides the global windows it names").check();
  await p.getByRole("button", { name: "Save" }).click();
  await p.getByText("Saved: version 2").waitFor();
  await p.reload();
  await p.getByLabel("Requests per minute").waitFor();
  assert.equal(await settledValue(p.getByLabel("Requests per minute"), "45"), "45");
  assert.equal(await p.locator(".scope").first().getByLabel("Endpoint").inputValue(), "media");
  await p.locator(".meta").filter({ hasText: /Version 2 · changed by admin/ }).waitFor();
  const stored = await server.api("GET", "/api/v1/limits", undefined, await server.adminToken());
  assert.equal(stored.json.requests_per_minute, 45);
  assert.deepEqual(stored.json.endpoint_limits, { media: { minute: 10 } });
  assert.deepEqual(stored.json.platform_limits, { mastodon: { minute: 300, mode: "override" } });
  assert.equal(await platforms.getByLabel("Overrides the global windows it names").isChecked(), true);

  // What if: the edited limits beside the saved ones, before saving.
  await p.getByLabel("Burst (at once)").fill("2");
  const legend = p.locator(".what-if .legend");
  await legend.getByText(/^edited: \d+ admitted/).waitFor();
  const admitted = async (which) => Number((await legend.getByText(new RegExp(`^${which}: \\d+ admitted`)).textContent()).match(/\d+/)[0]);
  assert.ok((await admitted("edited")) < (await admitted("saved")), "a smaller burst admits fewer");
  assert.equal(await p.locator(".what-if polyline").count(), 4, "admitted and denied, saved and edited");
  await shot(p, "limits");

  // The history lists both versions; loading the first puts it in the form, and saving it
  // makes it current again as version 3.
  await p.getByText("History (the last 10 versions)").click();
  const versions = p.locator(".history li");
  await versions.nth(1).waitFor();
  assert.deepEqual(
    (await versions.locator("strong").allTextContents()),
    ["Version 2", "Version 1"],
  );
  await p.getByRole("button", { name: "Load version 1 into the form" }).click();
  assert.equal(await perMinute.inputValue(), "60");
  assert.equal(await p.locator(".scope").first().locator(".row").count(), 0, "version 1 had no endpoint limits");
  await p.getByText(/^Version 1 is in the form/).waitFor();
  await p.getByRole("button", { name: "Save" }).click();
  await p.getByText("Saved: version 3").waitFor();
  await versions.nth(2).waitFor();
  const current = await server.api("GET", "/api/v1/limits", undefined, await server.adminToken());
  assert.equal(current.json.requests_per_minute, 60);
  assert.deepEqual(current.json.endpoint_limits, {});
  // And back to version 2's limits (which the tests below rely on), as version 4.
  await p.getByRole("button", { name: "Load version 2 into the form" }).click();
  assert.equal(await perMinute.inputValue(), "45");
  await p.getByRole("button", { name: "Save" }).click();
  await p.getByText("Saved: version 4").waitFor();
  await p.close();
});

test("a server-side rejection shows the server's detail next to the field", async () => {
  const p = await page();
  await signIn(p, server.base);
  await p.goto(`${server.base}/limits`);
  // A scope with only a burst passes no client-side integer check but is refused by the rules:
  // the core in the page says so first; the server agrees on save of the same document.
  await p.getByRole("button", { name: "Add a row" }).nth(1).click();
  const row = p.locator(".scope").nth(1).locator(".row").last();
  await row.getByLabel("Platform").fill("pixelfed");
  await row.getByLabel("Burst").fill("3");
  await row.getByText("names no window: give at least one of minute, hour, day").waitFor();
  await p.close();
});

test("a task's progress bar reaches 100% while another process sends updates, across a server restart", async () => {
  const token = await server.adminToken();
  const task = await server.api("POST", "/api/v1/tasks", { settings: { batch: "browser" } }, token);
  assert.equal(task.status, 201);
  const id = task.json.task_id;
  const p = await page();
  await signIn(p, server.base);
  await p.goto(`${server.base}/tasks`);
  const row = p.locator(`li.task[data-task-id="${id}"]`);
  const bar = row.getByRole("progressbar");
  await bar.waitFor();
  assert.equal(await bar.getAttribute("aria-valuenow"), "0");
  await row.locator(".live").waitFor();

  const worker = (from, to) =>
    new Promise((ok, fail) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, "worker.mjs"), server.base, token, id, String(from), String(to)], { stdio: "inherit" });
      child.once("exit", (code) => (code === 0 ? ok() : fail(new Error(`worker exited with ${code}`))));
    });
  await worker(10, 40);
  await p.waitForFunction((el) => el.getAttribute("aria-valuenow") === "40", await bar.elementHandle());

  // The server goes away and comes back; the EventSource reconnects by itself.
  await server.restart();
  await worker(50, 100);
  await p.waitForFunction((el) => el.getAttribute("aria-valuenow") === "100", await bar.elementHandle(), { timeout: 20_000 });
  await row.locator(".badge.completed").waitFor();
  assert.equal(await row.locator(".percent").textContent(), "100%");
  await p.waitForTimeout(400); // let the bar's width transition finish before the picture
  await shot(p, "tasks");
  await p.close();
});

test("tasks: an unfinished task can be cancelled from the console", async () => {
  const token = await server.adminToken();
  const task = await server.api("POST", "/api/v1/tasks", { settings: { batch: "cancel-me" } }, token);
  const id = task.json.task_id;
  await server.api("PUT", `/api/v1/tasks/${id}/progress`, { current_step: "captioning", progress_percent: 40 }, token);
  const p = await page();
  await signIn(p, server.base);
  await p.goto(`${server.base}/tasks`);
  const row = p.locator(`.task[data-task-id="${id}"]`);
  await row.locator(".badge.running").waitFor();
  await row.getByRole("button", { name: "Cancel" }).click();
  await row.locator(".badge.cancelled").waitFor();
  assert.equal(await row.getByRole("button", { name: "Cancel" }).count(), 0, "a finished task has no Cancel");
  const stored = await server.api("GET", `/api/v1/tasks/${id}/progress`, undefined, token);
  assert.deepEqual([stored.json.status, stored.json.progress_percent], ["cancelled", 40]);
  await p.close();
});

test("overview: the start page's figures move while a load of decisions runs", async () => {
  const p = await page();
  await signIn(p, server.base);
  // The start page, with no screen named.
  await p.locator("section.screen.overview").waitFor();
  const rate = p.locator(".figure.rate .value");
  const total = p.locator(".figure.total .value");
  await total.getByText(/^\d+$/).waitFor();
  const before = Number(await total.textContent());
  // A bot hammering one key from the page itself (its session; same origin): past the default
  // burst of 10 it is denied.
  const load = p.evaluate(async () => {
    const end = Date.now() + 7000;
    while (Date.now() < end) {
      await fetch("/api/v1/limits/check", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ key: "busy-bot", endpoint: "media" }),
      });
    }
  });
  await p.locator(".top-keys td.key").getByText("busy-bot").waitFor({ timeout: 10000 });
  await p.waitForFunction(() => Number(document.querySelector(".figure.rate .value")?.textContent) > 0, null, { timeout: 10000 });
  assert.match(await p.locator(".figure.share-denied .value").textContent(), /^\d+\.\d %$/);
  assert.ok(Number(await total.textContent()) > before, "the decisions since start grew");
  await p.locator("table.denials td").first().waitFor();
  assert.ok(Number(await rate.textContent()) > 0);
  await shot(p, "overview");
  await load;
  await p.close();
});

test("keys: a check, live bars, and a reset", async () => {
  const p = await page();
  await signIn(p, server.base);
  await p.goto(`${server.base}/keys`);
  await p.getByLabel("Key").fill("bot-42");
  await p.getByLabel("Endpoint").fill("media");
  for (let i = 0; i < 3; i++) await p.getByRole("button", { name: "Check" }).click();
  await p.locator(".decision").getByText("Allowed").waitFor();
  const bars = p.locator(".bucket-bars li");
  await bars.first().waitFor();
  assert.ok((await bars.count()) >= 4, "global minute, hour, day and the media endpoint");
  await p.waitForTimeout(400); // let the bars' width transition finish before the picture
  await shot(p, "keys");
  await p.getByRole("button", { name: "Reset key" }).click();
  await p.locator(".bucket-bars .count").first().getByText(/^(\d+) \/ \1$/).waitFor();
  await p.close();
});

test("retry: the policy's schedule is drawn, a bad value is marked, statistics are listed", async () => {
  const token = await server.adminToken();
  await server.api("POST", "/api/v1/retry/report", {
    operation: "caption-image", attempts: 2, outcome: "success", delays: [1.1], failures: [{ kind: "status", status: 503 }],
  }, token);
  const p = await page();
  await signIn(p, server.base);
  await p.goto(`${server.base}/retry`);
  await p.locator(".chart polygon.band").waitFor();
  assert.equal(await p.locator(".chart polyline").count(), 1);
  await p.getByRole("cell", { name: "caption-image" }).waitFor();
  await p.getByLabel("Jitter factor (0.1 = ±10%)").fill("2");
  await p.getByText("must be between 0 and 1").waitFor();
  assert.equal(await p.getByRole("button", { name: "Save" }).isDisabled(), true);
  // No schedule from an invalid policy: the chart says why instead of standing empty.
  await p.locator(".chart text.empty", { hasText: "Correct the policy above to see its delays" }).waitFor();
  assert.equal(await p.locator(".chart polyline").count(), 0);
  await shot(p, "retry");
  await p.close();
});

test("platforms: add a connection and choose it as the context", async () => {
  const p = await page();
  await signIn(p, server.base);
  await p.goto(`${server.base}/platforms`);
  await p.getByText("No platform chosen for this session.").waitFor();
  await p.getByLabel("Name", { exact: true }).fill("a rather long connection name that must wrap and not break the layout at all");
  await p.getByLabel("Instance URL").fill("http://mastodon.social");
  await p.getByText("must use https").waitFor();
  await p.getByLabel("Instance URL").fill("https://mastodon.social");
  await p.getByLabel("Username", { exact: true }).fill("captionbot");
  await p.getByLabel("Access token (stored encrypted, never shown again)").fill("secret-token-from-browser");
  await p.getByRole("button", { name: "Add", exact: true }).click();
  await p.locator(".connection").first().waitFor();
  await p.getByRole("button", { name: "Use" }).click();
  await p.getByText(/^Working in: a rather long connection name/).waitFor();
  assert.equal(await p.content().then((html) => html.includes("secret-token-from-browser")), false);

  // A second connection: made the default, its token replaced, then deleted.
  await p.getByLabel("Name", { exact: true }).fill("pixelfed account");
  await p.locator("select[name=platform_type]").selectOption("pixelfed");
  await p.getByLabel("Instance URL").fill("https://pixelfed.social");
  await p.getByLabel("Username", { exact: true }).fill("captionbot");
  await p.getByLabel("Access token (stored encrypted, never shown again)").fill("second-secret");
  await p.getByRole("button", { name: "Add", exact: true }).click();
  const second = p.locator(".connection").filter({ hasText: "pixelfed account" });
  await second.waitFor();
  await p.getByRole("button", { name: "Make pixelfed account the default" }).click();
  await second.locator(".badge.default").waitFor();
  assert.equal(await p.locator(".connection .badge.default").count(), 1, "one default at a time");
  await shot(p, "platforms");
  await p.getByRole("button", { name: "Replace the access token of pixelfed account" }).click();
  await second.getByLabel("New access token (stored encrypted, never shown again)").fill("third-secret");
  await second.getByRole("button", { name: "Save the token" }).click();
  await second.locator("form.replace").waitFor({ state: "detached" });
  assert.equal(await p.locator("p.error").count(), 0);
  assert.equal(await p.content().then((html) => html.includes("third-secret")), false);

  // Deactivating the connection in use: the context says it is no longer usable.
  await p.locator(".connection").first().getByRole("button", { name: /^Deactivate / }).click();
  await p.getByText("The chosen connection is not active.").waitFor();
  await p.locator(".connection").first().locator(".badge.inactive").waitFor();

  p.once("dialog", (d) => d.accept());
  await p.getByRole("button", { name: "Delete pixelfed account" }).click();
  await second.waitFor({ state: "detached" });
  assert.equal(await p.locator(".connection").count(), 1);
  await p.close();
});

test("access: a token is shown once, works, and stops working when revoked; an admin adds a user", async () => {
  const p = await page();
  await signIn(p, server.base);
  await p.goto(`${server.base}/access`);
  await p.getByLabel("Name of the new token").fill("caption-worker");
  await p.getByRole("button", { name: "Make a token" }).click();
  const shown = p.getByLabel("The new token", { exact: true });
  await shown.waitFor();
  const token = await shown.inputValue();
  assert.match(token, /^fg_[A-Za-z0-9_-]{40,}$/);
  const row = p.locator(".tokens .token").filter({ hasText: "caption-worker" });
  await row.waitFor();
  const me = await server.api("GET", "/api/v1/auth/me", undefined, token);
  assert.deepEqual([me.status, me.json.username, me.json.via], [200, "admin", "token"]);
  await shot(p, "access");

  // Shown once: after "Done" (or a reload) only the name is left.
  await p.getByRole("button", { name: "Done" }).click();
  await shown.waitFor({ state: "detached" });
  await p.reload();
  await row.waitFor();
  assert.equal(await p.content().then((html) => html.includes(token)), false);

  // An empty name is refused at the field, and nothing is made.
  const before = await p.locator(".tokens .token").count();
  await p.getByRole("button", { name: "Make a token" }).click();
  await p.locator(".field.invalid", { has: p.getByLabel("Name of the new token") }).getByRole("alert").waitFor();
  assert.equal(await p.locator(".tokens .token").count(), before);

  // Revoking asks first; saying no keeps the token.
  p.once("dialog", (d) => d.dismiss());
  await p.getByRole("button", { name: "Revoke caption-worker" }).click();
  await p.waitForTimeout(300);
  assert.equal((await server.api("GET", "/api/v1/auth/me", undefined, token)).status, 200);
  let asked = "";
  p.once("dialog", (d) => {
    asked = d.message();
    d.accept();
  });
  await p.getByRole("button", { name: "Revoke caption-worker" }).click();
  await row.waitFor({ state: "detached" });
  assert.match(asked, /^Revoke the token "caption-worker"\?/);
  assert.equal((await server.api("GET", "/api/v1/auth/me", undefined, token)).status, 401);

  const form = p.getByRole("form", { name: "Add a user" });
  await form.getByLabel("Username").fill("alice");
  await form.getByLabel("Password (8 characters at least)").fill("short");
  await form.getByRole("button", { name: "Add" }).click();
  assert.equal(await form.locator(".field.invalid").getByRole("alert").textContent(), "must be at least 8 characters");
  await form.getByLabel("Password (8 characters at least)").fill("alice-password");
  await form.getByRole("button", { name: "Add" }).click();
  await form.getByText("Added alice (user).").waitFor();
  const alice = p.locator(".accounts .account").filter({ hasText: "alice" });
  await alice.waitFor();
  assert.equal(await p.locator(".accounts .account").filter({ hasText: "you" }).getByRole("button").count(), 0,
    "an admin cannot demote or deactivate themselves");

  // Alice signs in as a user: she has the access screen for her own tokens, and no user form.
  const q = await page();
  await q.goto(`${server.base}/access`);
  await q.getByLabel("Username").fill("alice");
  await q.getByLabel("Password").fill("alice-password");
  await q.getByRole("button", { name: "Sign in" }).click();
  await q.locator(".who .role").getByText("user", { exact: true }).waitFor();
  await q.getByText("No tokens yet.").waitFor();
  assert.equal(await q.getByRole("form", { name: "Add a user" }).count(), 0);

  // She changes her password; a mistyped repeat is caught before anything is sent.
  const change = q.getByRole("form", { name: "Change your password" });
  await change.getByLabel("Current password", { exact: true }).fill("alice-password");
  await change.getByLabel("New password (8 characters at least)", { exact: true }).fill("alice-second-password");
  await change.getByLabel("New password again", { exact: true }).fill("alice-second-passwort");
  await change.getByText("does not match the new password").waitFor();
  assert.equal(await change.getByRole("button", { name: "Change password" }).isDisabled(), true);
  // (Its accessible name now holds the error too.)
  await change.getByLabel("New password again").fill("alice-second-password");
  await change.getByRole("button", { name: "Change password" }).click();
  await change.getByText(/^Password changed\./).waitFor();
  await q.getByRole("button", { name: "Sign out" }).click();
  await q.getByLabel("Username").fill("alice");
  await q.getByLabel("Password").fill("alice-second-password");
  await q.getByRole("button", { name: "Sign in" }).click();
  await q.locator(".who .username").getByText("alice").waitFor();

  // The admin deactivates her: her next call finds her session gone.
  await p.getByRole("button", { name: "Deactivate alice" }).click();
  await alice.locator(".badge.inactive").waitFor();
  await q.getByLabel("Name of the new token").fill("never-made");
  await q.getByRole("button", { name: "Make a token" }).click();
  await q.getByText("Your session has ended; sign in again.").waitFor();
  await q.close();
  await p.close();
});

test("a session that ends under the console leads back to the sign-in form", async () => {
  const p = await page();
  await signIn(p, server.base);
  // A screen that polls nothing, so that the click below makes the first call after the
  // session ends (the keys screen's poll could make it first).
  await p.goto(`${server.base}/access`);
  await p.getByLabel("Name of the new token").fill("never-made");
  // Signed out elsewhere (another tab, with the same cookie): the next call answers 401.
  const out = await p.context().request.post(`${server.base}/api/v1/auth/logout`, { headers: { origin: server.base } });
  assert.equal(out.status(), 204);
  await p.getByRole("button", { name: "Make a token" }).click();
  await p.getByRole("form", { name: "Sign in" }).getByText("Your session has ended; sign in again.").waitFor();
  // Signing in again brings the screens back, without the note.
  await p.getByLabel("Username").fill("admin");
  await p.getByLabel("Password").fill(ADMIN_PASSWORD);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.getByRole("navigation", { name: "Screens" }).waitFor();
  await p.getByRole("button", { name: "Sign out" }).click();
  await p.getByRole("form", { name: "Sign in" }).waitFor();
  assert.equal(await p.getByText("Your session has ended").count(), 0, "signing out oneself is no surprise");
  await p.close();
});

test("screens are paths: the navigation moves between them, a reload stays, an old #link lands", async () => {
  const p = await page();
  await signIn(p, server.base);
  const nav = p.getByRole("navigation", { name: "Screens" });
  assert.equal(await nav.getByRole("link", { name: "Overview" }).getAttribute("aria-current"), "page");
  // Client-side: the page is not loaded again (a marker set on the window survives).
  await p.evaluate(() => { window.stayed = true; });
  await nav.getByRole("link", { name: "Tasks" }).click();
  await p.locator("section.screen.tasks").waitFor();
  assert.equal(new URL(p.url()).pathname, "/tasks");
  assert.equal(await nav.getByRole("link", { name: "Tasks" }).getAttribute("aria-current"), "page");
  assert.equal(await nav.getByRole("link", { name: "Overview" }).getAttribute("aria-current"), null);
  assert.equal(await p.evaluate(() => window.stayed), true, "navigating did not reload the page");
  // Back returns to the overview, in the page.
  await p.goBack();
  await p.locator("section.screen.overview").waitFor();
  // The server answers a screen's path with the console: a reload stays on the screen.
  await p.goto(`${server.base}/retry`);
  await p.locator("section.screen.retry").waitFor();
  await p.reload();
  await p.locator("section.screen.retry").waitFor();
  // A bookmark from when screens were fragments.
  await p.goto(`${server.base}/#platforms`);
  await p.locator("section.screen.platforms").waitFor();
  assert.equal(new URL(p.url()).pathname, "/platforms");
  // No screen at an unknown path: said so, with the navigation still there.
  await p.goto(`${server.base}/no-such-screen`);
  await p.getByRole("heading", { name: "Not found" }).waitFor();
  await nav.waitFor();
  await p.close();
});

test("usable at 360 px: nothing overflows sideways, controls are labelled", async () => {
  const p = await page({ width: 360, height: 740 });
  await signIn(p, server.base);
  for (const screen of ["overview", "limits", "keys", "tasks", "retry", "platforms", "access"]) {
    await p.goto(`${server.base}${screen === "overview" ? "/" : `/${screen}`}`);
    await p.locator(`section.screen.${screen}`).waitFor();
    await p.waitForTimeout(300);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${screen} is ${overflow}px wider than the screen`);
    const unlabelled = await p.evaluate(() =>
      [...document.querySelectorAll("input, select")].filter((el) => !el.closest("label") && !el.getAttribute("aria-label")).length,
    );
    assert.equal(unlabelled, 0, `${screen} has inputs without a label`);
  }
  await p.goto(`${server.base}/limits`);
  await p.getByLabel("Requests per minute").waitFor();
  await shot(p, "limits-360px");
  await p.close();
});

test("no script errors on any screen", () => {
  assert.deepEqual(errors, []);
});
