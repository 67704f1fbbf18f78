// A worker in its own process: PUTs progress updates for a task, `from`% to `to`% in steps of
// 10, a little apart, the last one completing the task when it reaches 100.
// Usage: node worker.mjs <base> <token> <task id> <from> <to>
const [base, token, id, from, to] = process.argv.slice(2);
for (let pct = Number(from); pct <= Number(to); pct += 10) {
  const body = { current_step: `captioning image ${pct / 10}`, progress_percent: pct, details: { images: pct / 10 } };
  if (pct === 100) body.status = "completed";
  const res = await fetch(`${base}/api/v1/tasks/${id}/progress`, {
    method: "PUT",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  if (!res.ok) {
    console.error(`PUT ${pct}%: ${res.status} ${await res.text()}`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 150));
}
