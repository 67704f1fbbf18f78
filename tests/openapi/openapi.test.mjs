// flowgate's OpenAPI document, as the server prints it (`flowgate-server openapi`, the same
// document `GET /api/v1/openapi.json` serves), validated against the OpenAPI 3.1 schema by a
// validator that carries the schema itself (no network). The routes it describes are checked
// against the running server in tests/tests/openapi.rs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { Validator } from "@seriousme/openapi-schema-validator";

const server = process.env.FLOWGATE_SERVER_BIN;
assert.ok(server, "set FLOWGATE_SERVER_BIN to the flowgate-server binary");
const printed = execFileSync(server, ["openapi"], { encoding: "utf8" });

test("the document is valid OpenAPI 3.1", async () => {
  const validator = new Validator();
  const result = await validator.validate(JSON.parse(printed));
  assert.equal(validator.version, "3.1");
  assert.ok(result.valid, JSON.stringify(result.errors, null, 2));
});

test("the validator refuses a document that breaks the schema", async () => {
  // So that a pass above means something: the same document with an operation whose
  // responses are not an object, and one without its info, are both refused.
  const broken = JSON.parse(printed);
  broken.paths["/healthz"].get.responses = "ok";
  assert.equal((await new Validator().validate(broken)).valid, false);
  const noInfo = JSON.parse(printed);
  delete noInfo.info;
  assert.equal((await new Validator().validate(noInfo)).valid, false);
});
