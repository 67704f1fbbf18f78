// The browser build (what `import init from "flowgate"` gives a bundler or a page) loads and
// decides like the Node build once initialised; Node can feed it the .wasm bytes directly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

test("the web build initialises and decides", async () => {
  const require = createRequire(import.meta.url);
  const dir = require.resolve("flowgate/package.json").replace(/package\.json$/, "");
  const web = await import("flowgate/web");
  await web.default({ module_or_path: readFileSync(`${dir}web/flowgate_wasm_bg.wasm`) });
  const limiter = new web.RateLimiter({ max_burst: 1 });
  assert.equal(limiter.isAllowed("k", { now: 0 }).allowed, true);
  assert.equal(limiter.isAllowed("k", { now: 0 }).retryAfter, 1000);
});
