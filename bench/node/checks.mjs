// Checks per second from Node through the npm package's Node build (wasm/pkg, built by
// `scripts/test` or `source scripts/lib.sh && build_npm_package`).
// Usage: node bench/node/checks.mjs
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { RateLimiter } = require("../../wasm/pkg/node/flowgate_wasm.js");

function measure(name, config, options, keys, method = "isAllowed") {
  const limiter = new RateLimiter(config);
  const n = 1_000_000;
  let allowed = 0;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      options.now = i / 1000; // 1 µs per check, in ms
      if (limiter[method](keys[i % keys.length], options).allowed) allowed++;
    }
    const ns = Number(process.hrtime.bigint() - start);
    if (round === 2) {
      console.log(`${name}, ${method}: ${Math.round(n / (ns / 1e9)).toLocaleString("en")} checks/s (${(ns / n).toFixed(0)} ns per check; ${allowed} allowed)`);
    }
  }
}

const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
const global = { requests_per_minute: 60, max_burst: 10 };
const full = {
  platform_limits: { mastodon: { minute: 300, hour: 5000, day: 50000 } },
  endpoint_limits: { media: { minute: 30, hour: 500, day: 5000 } },
  platform_endpoint_limits: { mastodon: { media: { minute: 20, hour: 300, day: 3000 } } },
};
const media = { endpoint: "media", platform: "mastodon" };
for (const method of ["isAllowed", "check"]) {
  measure("global limits, 1,000 keys", global, {}, keys, method);
  measure("4 scopes x 3 windows, 1,000 keys", full, { ...media }, keys, method);
}
