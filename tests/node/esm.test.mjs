// The package as ES modules, the way Node programs and bundlers load it: the default entry by
// `import` (Node's CommonJS build, named exports), the web build with `initSync` (what edge
// runtimes without fetch of files use), and an esbuild bundle of the web build.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(import.meta.url);
const dir = require.resolve("flowgate/package.json").replace(/package\.json$/, "");
const wasm = () => readFileSync(`${dir}web/flowgate_wasm_bg.wasm`);

test("the default entry imports with named exports", async () => {
  const { RateLimiter, RetryPolicy } = await import("flowgate");
  const limiter = new RateLimiter({ max_burst: 1 });
  assert.equal(limiter.isAllowed("k", { now: 0 }).allowed, true);
  assert.equal(limiter.isAllowed("k", { now: 0 }).allowed, false);
  assert.equal(new RetryPolicy({ jitter: false }).delays(1).length, 2);
});

test("the web build is an ES module and initialises synchronously from bytes", async () => {
  assert.equal(JSON.parse(readFileSync(`${dir}web/package.json`, "utf8")).type, "module");
  const { initSync, RateLimiter } = await import("flowgate/web");
  // As the package's README says to.
  initSync({ module: readFileSync(new URL(import.meta.resolve("flowgate/web/flowgate_wasm_bg.wasm"))) });
  assert.equal(new RateLimiter({ max_burst: 2 }).isAllowed("k", { now: 0 }).remaining, 1);
});

test("an esbuild bundle of the web build runs", async () => {
  const { build } = await import("esbuild");
  const out = mkdtempSync(join(tmpdir(), "flowgate-bundle-"));
  const entry = join(out, "entry.mjs");
  await import("node:fs").then((fs) =>
    fs.writeFileSync(entry, 'export { initSync, RateLimiter } from "flowgate/web";\n'),
  );
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "browser",
    outfile: join(out, "bundle.mjs"),
    nodePaths: [join(dir, "..")],
    logLevel: "silent",
  });
  assert.deepEqual(result.errors, []);
  const bundled = await import(pathToFileURL(join(out, "bundle.mjs")).href);
  bundled.initSync({ module: wasm() });
  const limiter = new bundled.RateLimiter({ max_burst: 1 });
  assert.equal(limiter.isAllowed("k", { now: 0 }).allowed, true);
});
