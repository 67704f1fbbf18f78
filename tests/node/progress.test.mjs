import { test } from "node:test";
import assert from "node:assert/strict";
import { ProgressModel } from "flowgate";

test("updates count up, keep their details, and estimate what is left", () => {
  const task = new ProgressModel("task-1", 7, 0);
  assert.equal(task.status.status, "queued");
  assert.equal(task.eta(5_000), null, "no estimate before any progress");
  assert.equal(task.status.eta, null);
  task.apply({ current_step: "fetching posts", progress_percent: 10, details: { posts: 4 } }, 10_000);
  const s = task.apply({ current_step: "captioning", progress_percent: 30 }, 20_000);
  assert.deepEqual(
    [s.taskId, s.userId, s.seq, s.status, s.currentStep, s.progressPercent, s.startedAt, s.updatedAt],
    ["task-1", 7, 2, "running", "captioning", 30, 10_000, 20_000],
  );
  assert.deepEqual(s.details, { posts: 4 }, "details stay until an update replaces them");
  assert.equal(s.eta, 35_000); // 20 points per 10 s, 70 left
  assert.equal(task.eta(30_000), 25_000);
  const done = task.apply({ current_step: "done", progress_percent: 100, status: "completed" }, 40_000);
  assert.equal(done.eta, 0);
});

test("details are copied in and out: changing them afterwards changes nothing kept", () => {
  const task = new ProgressModel("t", 1, 0);
  const details = { images: [1, 2], note: "first" };
  task.apply({ current_step: "a", progress_percent: 1, details }, 1);
  details.note = "changed";
  task.status.details.images.push(3);
  assert.deepEqual(task.status.details, { images: [1, 2], note: "first" });
  assert.throws(() => task.apply({ current_step: "b", progress_percent: 2, details: { rate: NaN } }, 2),
    /^Error: invalid progress update at \/details\/rate: must be a finite number, not NaN$/);
  const cycle = {};
  cycle.self = cycle;
  assert.throws(() => task.apply({ current_step: "b", progress_percent: 2, details: cycle }, 2),
    /^Error: invalid progress update at \/details: .*circular/i);
  assert.throws(() => task.apply({ current_step: "b", progress_percent: 2, details: { n: 10n } }, 2),
    /^Error: invalid progress update at \/details: .*BigInt/i);
  assert.throws(() => task.apply({ current_step: "b", progress_percent: 2, details: [1] }, 2),
    /at \/details: must be an object, not an array$/);
  assert.throws(() => task.apply({ current_step: "b", progress_percent: 2.5 }, 2), /at \/progress_percent: must be a whole number/);
  assert.equal(task.status.seq, 1, "a refused update changes nothing");
});

test("a task id that is not a string is an error naming it", () => {
  assert.throws(() => new ProgressModel(42), /taskId must be a string, not number/);
  assert.throws(() => new ProgressModel({}), /taskId must be a string, not object/);
  assert.equal(new ProgressModel(null, 1, 0).status.taskId, "");
});

test("a number argument that is not a number is an error naming it", () => {
  assert.throws(() => new ProgressModel("t", 10n), /^Error: userId must be a number, not bigint$/);
  assert.throws(() => new ProgressModel("t", 1, "5"), /^Error: now must be a number, not string$/);
  const task = new ProgressModel("t", 1, 0);
  assert.throws(() => task.apply({ current_step: "a", progress_percent: 1 }, Symbol("now")), /^Error: now must be a number, not symbol$/);
  assert.throws(() => task.eta(1n), /^Error: now must be a number, not bigint$/);
  assert.equal(task.status.seq, 0, "a refused update changes nothing");
  assert.equal(task.apply({ current_step: "a", progress_percent: 1 }, null).seq, 1, "null is the default clock");
});

test("invalid updates throw and change nothing", () => {
  const task = new ProgressModel();
  task.apply({ current_step: "a", progress_percent: 5 });
  const before = task.status;
  assert.throws(() => task.apply({ current_step: "a", progress_percent: 101 }), /progress_percent/);
  assert.throws(() => task.apply({ current_step: "a", progress_percent: -1 }), /progress_percent/);
  assert.throws(() => task.apply({ current_step: "a", progress_percent: 5, status: "paused" }), /status/);
  assert.throws(() => task.apply({ progress_percent: 5 }), /current_step/);
  assert.deepEqual(task.status, before);
  task.apply({ current_step: "gave up", progress_percent: 5, status: "failed" });
  assert.throws(() => task.apply({ current_step: "again", progress_percent: 6 }), /failed/);
});

test("JSON.stringify gives the server's form: RFC 3339 times with microseconds, eta in seconds", () => {
  const start = Date.UTC(2026, 11, 4, 7, 42, 45, 123);
  const task = new ProgressModel("t1", 7, start);
  task.apply({ current_step: "fetching", progress_percent: 10, details: { images: 2 } }, start + 10_000);
  task.apply({ current_step: "captioning", progress_percent: 30 }, start + 20_000);
  assert.deepEqual(JSON.parse(JSON.stringify(task)), {
    task_id: "t1", user_id: 7, current_step: "captioning", progress_percent: 30, details: { images: 2 },
    status: "running", seq: 2, started_at: "2026-12-04T07:42:55.123000Z",
    updated_at: "2026-12-04T07:43:05.123000Z", eta: 35,
  });
  // The millisecond getters stay as they were.
  assert.equal(task.status.updatedAt, start + 20_000);
  assert.equal(task.status.eta, 35_000);
  const queued = JSON.parse(JSON.stringify(new ProgressModel("t2", 7, start)));
  assert.equal(queued.started_at, null);
  assert.equal(queued.updated_at, "2026-12-04T07:42:45.123000Z");
});
