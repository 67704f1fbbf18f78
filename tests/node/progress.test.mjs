import { test } from "node:test";
import assert from "node:assert/strict";
import { ProgressModel } from "flowgate";

test("updates count up, keep their details, and estimate what is left", () => {
  const task = new ProgressModel("task-1", 7, 0);
  assert.equal(task.status.status, "queued");
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

test("a task id that is not a string is an error naming it", () => {
  assert.throws(() => new ProgressModel(42), /taskId must be a string, not number/);
  assert.throws(() => new ProgressModel({}), /taskId must be a string, not object/);
  assert.equal(new ProgressModel(null, 1, 0).status.taskId, "");
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
