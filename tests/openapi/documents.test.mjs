// The npm package reads its documents (limits, retry policy, failures, progress updates) with
// a schema table of its own (wasm/src/documents.js, so that the module carries no
// deserializer) and declares them in TypeScript (wasm/src/lib.rs). Both must say what the
// core's serde forms say; those forms are in the OpenAPI document, whose schemas utoipa derives
// from the same serde attributes. This test reads all three and fails on any field, type,
// optionality or enum value where one of them disagrees.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const server = process.env.FLOWGATE_SERVER_BIN;
assert.ok(server, "set FLOWGATE_SERVER_BIN to the flowgate-server binary");
const core = JSON.parse(execFileSync(server, ["openapi"], { encoding: "utf8" })).components.schemas;
const { SCHEMAS } = await import(join(root, "wasm/src/documents.js"));
const typescript = readFileSync(join(root, "wasm/src/lib.rs"), "utf8").match(/const TYPES: &str = r#"([\s\S]*?)"#;/)[1];

// Each description is normalised to { kind, nullable, ... } with kind one of int, number,
// bool, string, any-number (TypeScript's `number`), list, map, enum, object.

/** A core (OpenAPI) schema. */
function fromCore(schema) {
  if (schema.$ref) return fromCore(core[schema.$ref.split("/").pop()]);
  if (schema.oneOf) {
    const [other, more] = schema.oneOf.filter((s) => s.type !== "null");
    assert.equal(more, undefined, JSON.stringify(schema));
    return { ...fromCore(other), nullable: schema.oneOf.some((s) => s.type === "null") };
  }
  const types = [schema.type].flat();
  const nullable = types.includes("null");
  const type = types.find((t) => t !== "null");
  if (schema.enum) return { kind: "enum", values: [...schema.enum].sort(), nullable };
  switch (type) {
    case "integer": return { kind: "int", negative: !(schema.minimum >= 0), nullable };
    case "number": return { kind: "number", nullable };
    case "boolean": return { kind: "bool", nullable };
    case "string": return { kind: "string", nullable };
    case "array": return { kind: "list", item: fromCore(schema.items), nullable };
    case "object":
      if (schema.properties) {
        const required = new Set(schema.required ?? []);
        return {
          kind: "object", nullable,
          fields: Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, { ...fromCore(v), required: required.has(k) }])),
        };
      }
      if (schema.additionalProperties && schema.additionalProperties !== true) {
        return { kind: "map", value: fromCore(schema.additionalProperties), nullable };
      }
      return { kind: "free object", nullable };
    default: throw new Error(`unread core schema ${JSON.stringify(schema)}`);
  }
}

/** A type of the package's schema table. */
function fromTable(t) {
  const nullable = Boolean(t.nullable);
  if (t.whole !== undefined) return { kind: "int", negative: Boolean(t.negative), nullable };
  if (t.number) return { kind: "number", nullable };
  if (t.bool) return { kind: "bool", nullable };
  if (t.string) return { kind: "string", nullable };
  if (t.object) return { kind: "free object", nullable };
  if (t.list) return { kind: "list", item: fromTable(t.list), nullable };
  if (t.map) return { kind: "map", value: fromTable(t.map), nullable };
  if (t.oneOf) return { kind: "enum", values: [...t.oneOf].sort(), nullable };
  if (t.fields) {
    const required = new Set(t.required);
    return {
      kind: "object", nullable,
      fields: Object.fromEntries(Object.entries(t.fields).map(([k, v]) => [k, { ...fromTable(v), required: required.has(k) }])),
    };
  }
  throw new Error(`unread table type ${JSON.stringify(t)}`);
}

/** The TypeScript declarations: each interface's fields and each alias, as text. */
const declared = {};
for (const [, name, body] of typescript.matchAll(/export interface (\w+)(?: extends \w+)? \{([^}]*)\}/g)) {
  declared[name] = Object.fromEntries(
    body.split(";").map((f) => f.trim()).filter(Boolean).map((f) => {
      const [, field, optional, type] = f.match(/^(\w+)(\??):\s*(.+)$/s);
      return [field, { optional: optional === "?", type: type.trim() }];
    }),
  );
}
for (const [, name, type] of typescript.matchAll(/export type (\w+) = ([^;]+);/g)) declared[name] = type.trim();

/** A TypeScript type. */
function fromTs(text) {
  const parts = text.split("|").map((p) => p.trim());
  const nullable = parts.includes("null");
  const rest = parts.filter((p) => p !== "null" && p !== "undefined");
  if (rest.every((p) => /^"[^"]*"$/.test(p))) return { kind: "enum", values: rest.map((p) => p.slice(1, -1)).sort(), nullable };
  assert.equal(rest.length, 1, `one type in ${text}`);
  const [t] = rest;
  if (t === "number") return { kind: "any-number", nullable };
  if (t === "boolean") return { kind: "bool", nullable };
  if (t === "string") return { kind: "string", nullable };
  if (t === "Record<string, unknown>") return { kind: "free object", nullable };
  if (t.endsWith("[]")) return { kind: "list", item: fromTs(t.slice(0, -2)), nullable };
  const record = t.match(/^Record<string, (.+)>$/);
  if (record) return { kind: "map", value: fromTs(record[1]), nullable };
  const named = declared[t];
  if (typeof named === "string") return { ...fromTs(named), nullable };
  if (named) {
    return {
      kind: "object", nullable,
      fields: Object.fromEntries(Object.entries(named).map(([k, v]) => [k, { ...fromTs(v.type), required: !v.optional }])),
    };
  }
  throw new Error(`unread TypeScript type ${text}`);
}

/** Where `a` (the core's) and `b` disagree, as paths; `b` says TypeScript's `number` for any
 * number, and TypeScript's `?` (may be left out) also admits null in the package. */
function differences(a, b, path, found = []) {
  const kindsAgree = a.kind === b.kind || (b.kind === "any-number" && ["int", "number"].includes(a.kind));
  if (!kindsAgree) {
    found.push(`${path}: ${a.kind} in the core, ${b.kind} here`);
    return found;
  }
  if (Boolean(a.nullable) !== Boolean(b.nullable) && a.nullable !== undefined && b.nullable !== undefined) {
    found.push(`${path}: ${a.nullable ? "may" : "may not"} be null in the core`);
  }
  if (a.kind === "int" && b.kind === "int" && a.negative !== b.negative) found.push(`${path}: the core's integer ${a.negative ? "may" : "may not"} be negative`);
  if (a.kind === "enum" && a.values.join() !== b.values.join()) found.push(`${path}: values ${a.values} in the core, ${b.values} here`);
  if (a.kind === "list") differences(a.item, b.item, `${path}[]`, found);
  if (a.kind === "map") differences(a.value, b.value, `${path}{}`, found);
  if (a.kind === "object") {
    for (const k of new Set([...Object.keys(a.fields), ...Object.keys(b.fields)])) {
      const [x, y] = [a.fields[k], b.fields[k]];
      if (!x || !y) {
        found.push(`${path}/${k}: ${x ? "missing here" : "not in the core"}`);
        continue;
      }
      if (x.required !== y.required) found.push(`${path}/${k}: ${x.required ? "required" : "optional"} in the core`);
      differences(x, y, `${path}/${k}`, found);
    }
  }
  return found;
}

/** A description without the fields named (those on one side only on purpose, with why). */
function without(schema, fields) {
  return { ...schema, fields: Object.fromEntries(Object.entries(schema.fields).filter(([k]) => !(k in fields))) };
}

// The package's document, the core's type, the TypeScript declaration, and the fields that
// are on one side only on purpose.
const PAIRS = [
  ["rate-limit config", "RateLimitConfig", "RateLimitConfig", {}, {}],
  ["retry config", "RetryConfig", "RetryConfig", {}, {}],
  // A worker's failure message goes to the server only.
  ["progress update", "TaskUpdate", "ProgressUpdate", { error_message: "the server's task, not the model" }, {}],
  // `retryAfter`: the wait a thrown error carries (ms), read by `retry` from the error itself.
  ["failure", "FailureRecord", "Failure", {}, { retryAfter: "a JavaScript error's own Retry-After" }],
];

for (const [table, coreName, tsName, serverOnly, jsOnly] of PAIRS) {
  test(`${table}: the schema table and the TypeScript say what the core's ${coreName} says`, () => {
    const expected = without(fromCore(core[coreName]), serverOnly);
    const inTable = without(fromTable(SCHEMAS[table]), jsOnly);
    const inTs = without(fromTs(tsName), jsOnly);
    assert.deepEqual(differences(expected, inTable, ""), [], `documents.js "${table}"`);
    // TypeScript marks every serde default as optional, which the core's schema says as not
    // required; nullability is not compared (`?` admits a missing field, where the core
    // writes null).
    const unnull = (d) => JSON.parse(JSON.stringify(d, (k, v) => (k === "nullable" ? undefined : v)));
    // (Without `nullable` on either side, differences() leaves it out.)
    assert.deepEqual(differences(unnull(expected), unnull(inTs), ""), [], `TypeScript ${tsName}`);
  });
}

test("the comparison can fail: a field renamed in the table is found", () => {
  const renamed = structuredClone(SCHEMAS["retry config"]);
  renamed.fields.max_tries = renamed.fields.max_attempts;
  delete renamed.fields.max_attempts;
  const found = differences(fromCore(core.RetryConfig), fromTable(renamed), "");
  assert.deepEqual(found.sort(), ["/max_attempts: missing here", "/max_tries: not in the core"]);
  const widened = structuredClone(SCHEMAS["rate-limit config"]);
  widened.fields.max_burst = { whole: 1, negative: true };
  assert.deepEqual(differences(fromCore(core.RateLimitConfig), fromTable(widened), ""), ["/max_burst: the core's integer may not be negative"]);
  const nulls = structuredClone(SCHEMAS["progress update"]);
  nulls.fields.current_step = { string: true, nullable: true };
  assert.deepEqual(differences(without(fromCore(core.TaskUpdate), { error_message: "" }), fromTable(nulls), ""), ["/current_step: may not be null in the core"]);
  // And in the TypeScript: a field the declaration lacks.
  const saved = declared.RetryConfig;
  declared.RetryConfig = Object.fromEntries(Object.entries(saved).filter(([k]) => k !== "jitter"));
  try {
    assert.deepEqual(differences(fromCore(core.RetryConfig), fromTs("RetryConfig"), ""), ["/jitter: missing here"]);
  } finally {
    declared.RetryConfig = saved;
  }
});
