// examples/cluster/run.sh: redis-server, three switchboard instances with --redis and nginx as
// the load balancer. `--check` must pass (health of every instance and through nginx, a
// Socket.IO handshake through nginx, the seed's events crossing instances, POST /api/emit
// through nginx) and stop everything it started; the interactive mode must stop everything on
// Ctrl-C. Nothing it started may survive: every PID it prints is checked afterwards.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";

import { BIN, ROOT, SANITIZED, sleep } from "./helpers.mjs";

const RUN = path.join(ROOT, "examples/cluster/run.sh");
const LIMIT_MS = SANITIZED ? 180000 : 90000;

// Starts run.sh and collects its output; `done` resolves with {code, signal, out}. SIGKILL
// after LIMIT_MS so a hung script ends as a failed test.
function runScript(args) {
  const proc = spawn(RUN, args, {
    cwd: ROOT,
    env: { ...process.env, SWITCHBOARD_BIN: BIN },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (out += d));
  const timer = setTimeout(() => proc.kill("SIGKILL"), LIMIT_MS);
  const done = new Promise((resolve) =>
    proc.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    }),
  );
  return { proc, done, output: () => out };
}

// The processes run.sh reported starting: [{name, pid}].
function started(out) {
  return [...out.matchAll(/^\[cluster\] started (.+) \(pid (\d+)\)$/gm)].map((m) => ({
    name: m[1],
    pid: Number(m[2]),
  }));
}

// True while `pid` exists and is not a zombie.
function alive(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

// Asserts that none of the processes survived; kills (by PID) any that did, so a failing run
// leaves nothing behind.
async function assertAllGone(procs, out) {
  const end = Date.now() + 5000;
  let survivors;
  do {
    survivors = procs.filter((p) => alive(p.pid));
    if (!survivors.length) return;
    await sleep(50);
  } while (Date.now() < end);
  for (const p of survivors) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {}
  }
  assert.fail(`still running after run.sh ended: ${JSON.stringify(survivors)}\n${out}`);
}

const OPTS = { timeout: LIMIT_MS + 10000 };

test("run.sh --check passes and stops everything it started", OPTS, async () => {
  const { done } = runScript(["--check"]);
  const { code, signal, out } = await done;
  const procs = started(out);
  await assertAllGone(procs, out);
  assert.equal(code, 0, `run.sh --check exited with ${code ?? signal}:\n${out}`);
  const names = procs.map((p) => p.name);
  for (const n of ["redis-server", "switchboard-1", "switchboard-2", "switchboard-3", "nginx"])
    assert.ok(names.includes(n), `${n} not started:\n${out}`);
  assert.ok(names.includes("nginx worker"), `no nginx worker reported:\n${out}`);
  assert.match(out, /check: ok: the two sockets are on two different instances/);
  assert.match(out, /check: ok: events 1, 2, 3 reached the asker and, through Redis/);
  assert.match(out, /check: ok: a client with default options polled through the load balancer, upgraded/);
  assert.match(out, /check: ok: POST \/api\/emit through .* reached both instances/);
  assert.match(out, /check: ok: @socket.io\/redis-emitter through Redis reached both instances/);
  assert.match(out, /check: ok: hand-made msgpack messages .* reached both/);
  assert.match(out, /check: all passed/);
  // Every instance stopped cleanly (under ASan: no leak, no error report).
  for (const n of ["switchboard-1", "switchboard-2", "switchboard-3", "nginx", "redis-server"])
    assert.match(out, new RegExp(`stopped ${n} \\(pid \\d+\\): exit status 0`), out);
});

test("run.sh stops everything on Ctrl-C (SIGINT)", OPTS, async () => {
  const run = runScript([]);
  const end = Date.now() + LIMIT_MS / 2;
  while (!/Ctrl-C stops everything/.test(run.output()) && Date.now() < end) {
    if (run.proc.exitCode !== null) break;
    await sleep(50);
  }
  const url = /demo page +(http:\/\/127\.0\.0\.1:\d+)\//.exec(run.output());
  assert.ok(url, `run.sh did not print the URL:\n${run.output()}`);
  // The load balancer answers while it runs.
  const res = await fetch(`${url[1]}/healthz`);
  assert.equal(res.status, 200);
  await res.text();
  run.proc.kill("SIGINT");
  const { code, out } = await run.done;
  const procs = started(out);
  assert.ok(procs.length >= 6, out);
  await assertAllGone(procs, out);
  assert.equal(code, 130, out);
  assert.equal((out.match(/^\[cluster\] stopped /gm) || []).length, 5, out);
  await assert.rejects(fetch(`${url[1]}/healthz`), "the load balancer still answers");
});
