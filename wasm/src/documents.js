// Reads the package's documents (configurations, failures, options, progress updates) on the
// JavaScript side: their shape is checked here against a schema, with errors that name the
// field by its JSON pointer, so that the WebAssembly module carries no JSON parser and no
// deserializer per document type (which were most of its size). The Rust side then reads
// fields it knows to be of the right type; every rule beyond the shape (a limit of zero, a
// percent over 100, max_delay below base_delay) is the core's, as on the server.

const U8 = { whole: 255 };
const U16 = { whole: 65535 };
const U32 = { whole: 4294967295 };
const INTEGER = { whole: Number.MAX_SAFE_INTEGER, negative: true };
const NUMBER = { number: true };
const BOOL = { bool: true };
const STRING = { string: true };
const OBJECT = { object: true };
const nullable = (type) => ({ ...type, nullable: true });
const list = (item) => ({ list: item });
const map = (value) => ({ map: value });
const oneOf = (...names) => ({ oneOf: names });
const fields = (shape, required = []) => ({ fields: shape, required });

const SCOPE_LIMITS = fields({
  minute: nullable(U32), hour: nullable(U32), day: nullable(U32), burst: nullable(U32), mode: oneOf("all", "override"),
});
const FAILURE_KIND = oneOf("timeout", "connection", "status", "other");
const TASK_STATUS = oneOf("queued", "running", "completed", "failed", "cancelled");

export const SCHEMAS = {
  "rate-limit config": fields({
    requests_per_minute: U32,
    requests_per_hour: U32,
    requests_per_day: U32,
    max_burst: U32,
    endpoint_limits: map(SCOPE_LIMITS),
    platform_limits: map(SCOPE_LIMITS),
    platform_endpoint_limits: map(map(SCOPE_LIMITS)),
  }),
  "retry config": fields({
    max_attempts: U32,
    base_delay: NUMBER,
    max_delay: NUMBER,
    backoff_factor: NUMBER,
    jitter: BOOL,
    jitter_factor: NUMBER,
    retry_on_timeout: BOOL,
    retry_on_connection_error: BOOL,
    retry_on_server_error: BOOL,
    retry_on_rate_limit: BOOL,
    retry_status_codes: nullable(list(U16)),
    retry_on_specific_errors: nullable(list(STRING)),
    retry_exceptions: nullable(list(FAILURE_KIND)),
  }),
  failure: fields(
    { kind: FAILURE_KIND, status: nullable(U16), message: nullable(STRING), retryAfter: nullable(NUMBER) },
    ["kind"],
  ),
  "retry options": fields({ operation: nullable(STRING), seed: nullable(NUMBER), signal: { any: true } }),
  "progress update": fields(
    { current_step: STRING, progress_percent: INTEGER, details: nullable(OBJECT), status: nullable(TASK_STATUS) },
    ["current_step", "progress_percent"],
  ),
};

/** The document `value` (an object, its JSON text, or nothing for an empty one), checked
 * against the schema named `what`; throws an `Error` naming the field otherwise. */
export function read_document(value, what) {
  let doc = value;
  if (typeof value === "string") {
    try {
      doc = JSON.parse(value);
    } catch (e) {
      throw new Error(`invalid ${what}: ${e.message}`);
    }
  } else if (value === undefined || value === null) {
    doc = {};
  }
  const problem = check(doc, SCHEMAS[what], "");
  if (problem) {
    const [path, message] = problem;
    throw new Error(`invalid ${what}${path ? ` at ${path}` : ""}: ${message}`);
  }
  return doc;
}

/** A detached JSON copy of free-form details, refusing what JSON cannot hold (non-finite
 * numbers, bigints, cycles) with an error naming where. */
export function json_copy(value, what) {
  let at = "/details";
  try {
    return JSON.parse(
      JSON.stringify(value, function (key, v) {
        if (typeof v === "number" && !Number.isFinite(v)) {
          at = `/details${key ? `/${token(key)}` : ""}`;
          throw new Error(`must be a finite number, not ${v}`);
        }
        return v;
      }),
    );
  } catch (e) {
    throw new Error(`invalid ${what} at ${at}: ${e.message}`);
  }
}

function token(key) {
  return String(key).replaceAll("~", "~0").replaceAll("/", "~1");
}

function isObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v) {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  switch (typeof v) {
    case "string":
      return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
    case "number":
      return `${v}`;
    case "object":
      return "an object";
    default:
      return `${typeof v} ${String(v)}`;
  }
}

/** The first problem of `v` against `type` as `[pointer, message]`, or undefined. */
function check(v, type, path) {
  if (type.any) return undefined;
  if (v === null && type.nullable) return undefined;
  if (type.whole !== undefined) {
    const min = type.negative ? -type.whole : 0;
    if (typeof v === "number" && Number.isInteger(v) && v >= min && v <= type.whole) return undefined;
    const range = type.negative ? "" : ` from 0 to ${type.whole}`;
    return [path, `must be a whole number${range}, not ${describe(v)}`];
  }
  if (type.number) {
    return typeof v === "number" && Number.isFinite(v) ? undefined : [path, `must be a finite number, not ${describe(v)}`];
  }
  if (type.bool) return typeof v === "boolean" ? undefined : [path, `must be true or false, not ${describe(v)}`];
  if (type.string) return typeof v === "string" ? undefined : [path, `must be a string, not ${describe(v)}`];
  if (type.oneOf) {
    return type.oneOf.includes(v) ? undefined : [path, `must be one of ${type.oneOf.join(", ")}, not ${describe(v)}`];
  }
  if (type.list) {
    if (!Array.isArray(v)) return [path, `must be an array, not ${describe(v)}`];
    for (let i = 0; i < v.length; i++) {
      const problem = check(v[i], type.list, `${path}/${i}`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (!isObject(v)) return [path, `must be an object, not ${describe(v)}`];
  if (type.object) return undefined;
  if (type.map) {
    for (const key of Object.keys(v)) {
      const problem = check(v[key], type.map, `${path}/${token(key)}`);
      if (problem) return problem;
    }
    return undefined;
  }
  const names = Object.keys(type.fields);
  for (const key of Object.keys(v)) {
    if (!Object.hasOwn(type.fields, key)) {
      return [`${path}/${token(key)}`, `unknown field \`${key}\`, expected one of ${names.join(", ")}`];
    }
    if (v[key] === undefined) continue;
    const problem = check(v[key], type.fields[key], `${path}/${token(key)}`);
    if (problem) return problem;
  }
  for (const key of type.required) {
    if (v[key] === undefined) return [path, `missing field \`${key}\``];
  }
  return undefined;
}

// ---- answers -------------------------------------------------------------------------------

const KINDS = ["timeout", "connection", "status", "other"];

/** One operation's statistics (or the totals) as the server's JSON has them: `counts` are
 * calls, attempts, retries, successes, failures, exhausted, total_delay and max_delay;
 * `byStatus` and `byKind` are flat [key, count, ...] lists. */
export function operation_stats(counts, byStatus, byKind) {
  const [calls, attempts, retries, successes, failures, exhausted, total_delay, max_delay] = counts;
  const by_status = {};
  for (let i = 0; i < byStatus.length; i += 2) by_status[byStatus[i]] = byStatus[i + 1];
  const by_kind = {};
  for (let i = 0; i < byKind.length; i += 2) by_kind[KINDS[byKind[i]]] = byKind[i + 1];
  return { calls, attempts, retries, successes, failures, exhausted, total_delay, max_delay, by_status, by_kind };
}

/** The summary: the number of operations, the totals, and the two rates. */
export function retry_summary(operations, totals, success_rate, average_attempts) {
  return { operations, ...totals, success_rate, average_attempts };
}

/** A task's progress; `details` is copied, so that changing the answer changes nothing kept. */
export function progress_status(taskId, userId, currentStep, progressPercent, details, status, seq, startedAt, updatedAt, eta) {
  return {
    taskId, userId, currentStep, progressPercent, details: JSON.parse(JSON.stringify(details)),
    status, seq, startedAt: startedAt ?? null, updatedAt, eta: eta ?? null,
  };
}

/** A task's progress (`progress_status`'s object) in the server's JSON form: snake_case, the
 * times given as RFC 3339 text, `eta` in seconds. */
export function progress_json(s, startedAt, updatedAt, eta) {
  return {
    task_id: s.taskId, user_id: s.userId, current_step: s.currentStep, progress_percent: s.progressPercent,
    details: s.details, status: s.status, seq: s.seq, started_at: startedAt ?? null, updated_at: updatedAt,
    eta: eta ?? null,
  };
}

/** The statistics of each operation, by name (own properties, whatever the names). */
export function retry_detailed(names, stats) {
  return Object.fromEntries(names.map((name, i) => [name, stats[i]]));
}
