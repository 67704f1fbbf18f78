// Calls per second of the WebAssembly component from Node, through `jco transpile`: the
// scenarios of bench/scenarios.json, as bench/node/checks.mjs (the npm package) and bench/src/bin/same_loop.rs (the
// native core), so the three sit side by side. Run by bench/component/run.sh, which sets
// FLOWGATE_COMPONENT_JS to the transpiled component's entry module.
import { readFileSync } from "node:fs";

const { limiter } = await import(process.env.FLOWGATE_COMPONENT_JS);
const { RateLimiter } = limiter;

function measure(name, config, request, keys, method) {
  const l = RateLimiter.fromJson(JSON.stringify(config), 1n);
  const n = 1_000_000;
  let allowed = 0;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      // 1 µs per call, as the other loops advance their clocks.
      if (l[method](keys[i % keys.length], request, BigInt(round * n + i) * 1000n).allowed) allowed++;
    }
    const ns = Number(process.hrtime.bigint() - start);
    if (round === 2) {
      console.log(`jco, ${name}, ${method}: ${Math.round(n / (ns / 1e9)).toLocaleString("en")} calls/s (${(ns / n).toFixed(0)} ns per call; ${allowed} allowed)`);
    }
  }
}

const { scenarios } = JSON.parse(readFileSync(new URL("../scenarios.json", import.meta.url), "utf8"));
const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
for (const method of ["isAllowed", "check"]) {
  for (const s of scenarios) measure(s.name, s.limits, { ...s.request, cost: 1 }, keys, method);
}
