// The benchmark is a tool, not a test: this runs `bench/compare --quick` once (tiny sizes, both
// servers) to show that the load generator, the floor and every scenario work, and checks that
// each printed a JSON line with the expected keys and non-zero counts. Nothing about speed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { BIN, ROOT } from "./helpers.mjs";

const BUILD = path.dirname(BIN);

function run(argv, ms) {
  return new Promise((resolve, reject) => {
    const proc = spawn(argv[0], argv.slice(1), { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    proc.stdout.on("data", (d) => (stdout += d));
    proc.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      proc.kill("SIGTERM");
      reject(new Error(`bench/compare took over ${ms} ms:\n${stderr.slice(-4000)}`));
    }, ms);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const CONNECT_KEYS = ["connections", "connected", "connect_rate", "handshake_p50_ms", "handshake_p99_ms"];
const LAT_KEYS = ["p50_ms", "p99_ms", "p999_ms", "max_ms"];

test("bench/compare --quick runs every scenario against switchboard and the Node peer", { timeout: 300000 }, async () => {
  assert.ok(fs.existsSync(path.join(BUILD, "bench/loadgen")), "the load generator is built by CMake");
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "sb-bench-smoke-"));
  try {
    const res = await run(
      [process.execPath, "bench/compare", "--quick", "--no-build", "--no-chart", "--build", BUILD, "--out", out],
      240000,
    );
    assert.equal(res.code, 0, res.stderr.slice(-4000));
    const lines = res.stdout.trim().split("\n").map((l) => JSON.parse(l));
    const find = (scenario, label, proto = "socket.io", transport = "websocket") =>
      lines.find((l) => l.scenario === scenario && l.label === label && (l.proto ?? proto) === proto &&
        (l.transport ?? transport) === transport);

    const floor = lines.find((l) => l.scenario === "floor");
    assert.ok(floor.write1_us > 0 && floor.batch_us_per_msg > 0, JSON.stringify(floor));

    for (const label of ["switchboard", "node"]) {
      const ctx = (o) => `${label}: ${JSON.stringify(o)}`;
      const checkConnect = (o) => {
        assert.ok(o, `a line for ${label}`);
        assert.equal(o.error, undefined, ctx(o));
        for (const k of CONNECT_KEYS) assert.equal(typeof o[k], "number", `${k} in ${ctx(o)}`);
        assert.ok(o.connected > 0 && o.connected === o.connections, ctx(o));
      };

      const idle = find("idle", label);
      checkConnect(idle);
      assert.ok(idle.rss_after_hold_kib > 0 && idle.open_after_hold > 0, ctx(idle));
      assert.equal(typeof idle.rss_per_conn_bytes, "number");

      const fanout = find("fanout", label);
      checkConnect(fanout);
      assert.ok(fanout.receivers > 0 && fanout.steps.length > 0, ctx(fanout));
      for (const s of fanout.steps) {
        assert.ok(s.sent > 0 && s.received > 0, ctx(s));
        for (const k of [...LAT_KEYS, "deliveries_per_s", "lost", "server_cpu_us_per_delivery"])
          assert.equal(typeof s[k], "number", `${k} in ${ctx(s)}`);
      }
      assert.ok(fanout.steps[0].server_cpu_us_per_delivery > 0, "the server's CPU was read from /proc");

      const rpcs = lines.filter((l) => l.scenario === "rpc" && l.label === label);
      assert.deepEqual(rpcs.map((r) => r.event).sort(), ["echo", "events"]);
      for (const rpc of rpcs) {
        checkConnect(rpc);
        assert.ok(rpc.requests > 0 && rpc.completed > 0 && rpc.requests_per_s > 0, ctx(rpc));
        for (const k of LAT_KEYS) assert.equal(typeof rpc[k], "number", `${k} in ${ctx(rpc)}`);
      }

      const user = find("user", label);
      checkConnect(user);
      assert.equal(user.instances, 2);
      assert.ok(user.sent > 0 && user.received > 0, ctx(user));
      for (const k of LAT_KEYS) assert.equal(typeof user[k], "number", `${k} in ${ctx(user)}`);

      const storm = find("storm", label);
      checkConnect(storm);
      assert.equal(typeof storm.time_to_all_ms, "number");

      // Engine.IO long-polling: sessions that each hold a GET, deliveries in GET answers, and
      // the upgrade to WebSocket with its times
      const idlePolling = find("idle", label, "socket.io", "polling");
      checkConnect(idlePolling);
      assert.ok(idlePolling.open_after_hold === idlePolling.connected, ctx(idlePolling));
      assert.ok(idlePolling.http_conns_after_hold >= idlePolling.open_after_hold, ctx(idlePolling));
      assert.equal(typeof idlePolling.rss_per_conn_bytes, "number");

      const fanoutPolling = find("fanout", label, "socket.io", "polling");
      checkConnect(fanoutPolling);
      for (const s of fanoutPolling.steps) {
        assert.ok(s.sent > 0 && s.received === s.expected && s.polls > 0, ctx(s));
        assert.equal(typeof s.server_cpu_us_per_delivery, "number", ctx(s));
      }

      const upgrade = find("upgrade", label, "socket.io", "upgrade");
      checkConnect(upgrade);
      assert.ok(upgrade.upgraded === upgrade.connections && upgrade.upgrade_failed === 0, ctx(upgrade));
      for (const k of ["upgrade_probe_p50_ms", "upgrade_p50_ms", "upgrade_p99_ms", "upgrade_usable_p99_ms"])
        assert.ok(upgrade[k] > 0, `${k} in ${ctx(upgrade)}`);
    }

    // switchboard's own protocol: plain JSON WebSocket
    const idleJson = find("idle", "switchboard", "json");
    assert.ok(idleJson && idleJson.connected > 0, JSON.stringify(idleJson));
    const fanoutJson = find("fanout", "switchboard", "json");
    assert.ok(fanoutJson && fanoutJson.steps[0].received > 0, JSON.stringify(fanoutJson));

    const results = JSON.parse(fs.readFileSync(path.join(out, "results.json"), "utf8"));
    assert.ok(results.machine.nproc > 0 && results.commands.length > 0);
    assert.match(res.stderr, /\| figure \| switchboard \| node \| switchboard's advantage \|/);
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
});
