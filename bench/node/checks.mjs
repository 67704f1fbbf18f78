// Checks per second from Node through the npm package's Node build (wasm/pkg, built by
// `scripts/test` or `source scripts/lib.sh && build_npm_package`).
// Usage: node bench/node/checks.mjs
import { readFileSync } from "node:fs";
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

const { scenarios } = JSON.parse(readFileSync(new URL("../scenarios.json", import.meta.url), "utf8"));
const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
for (const method of ["isAllowed", "check"]) {
  for (const s of scenarios) measure(s.name, s.limits, { ...s.request }, keys, method);
}
