// Type-checked with tsc --strict against the package's declarations (scripts/lib.sh, test_npm_package).
import { RateLimiter, retry, RetryPolicy, ProgressModel, extractEndpointFromUrl } from "flowgate";
const l = new RateLimiter({ requests_per_minute: 5 });
const d = l.isAllowed("k");
const d2 = l.isAllowed("k", { endpoint: "media", now: 5 });
const w: number = l.waitTime("k");
const a = l.check("k", { platform: "mastodon" });
const wait: number = a.allowed ? 0 : a.retryAfter;
const ok: boolean = d.allowed && d2.buckets[0].remaining > 0;
retry(async () => 1, { max_attempts: 2 }).then((x) => x);
retry(async () => 1, {}, { operation: "x", seed: 1 });
const p = new RetryPolicy({});
const delays: number[] = p.delays(1);
const m = new ProgressModel("t", 1, 0);
const unnamed = new ProgressModel();
const later = new ProgressModel(null, 2);
const s = m.apply({ current_step: "a", progress_percent: 3 });
const e: string | undefined = extractEndpointFromUrl("/api/v1/statuses");
console.log(ok, w, delays, s.progressPercent, e, unnamed.status, later.status);
