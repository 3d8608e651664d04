#!/usr/bin/env node
// bench/lua-heap.mjs: what a Lua heap near --lua-memory-limit costs every other handler. Starts
// switchboard (on a free loopback port, stopped by PID) with bench/gateways/bench.lua (`echo`
// in "/") beside bench/gateways/heap/leak.lua (namespace /leak, which keeps what it is given),
// then, for each fill level, grows the leak's live data to that share of the cap and runs
// `loadgen rpc --rpc-event echo` against "/": requests/s and p99 of a handler that allocates
// almost nothing, and the Lua errors counted meanwhile. Prints a table and one JSON line;
// asserts nothing.
//
//   node bench/lua-heap.mjs [--bin build/switchboard] [--loadgen build/bench/loadgen]
//                           [--mb 8] [--levels 0,50,70,80,90] [--duration 3]
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connected, metric, sio, startServer } from "../tests/integration/helpers.mjs";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const MB = Number(opt("mb", 8));
const LEVELS = opt("levels", "0,50,70,80,90").split(",").map(Number);
const DURATION = Number(opt("duration", 3));
const LOADGEN = path.resolve(opt("loadgen", path.join(ROOT, "build/bench/loadgen")));
const BIN = opt("bin") && path.resolve(opt("bin")); // default: helpers.mjs's BIN

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-heap-bench-"));
fs.copyFileSync(path.join(ROOT, "bench/gateways/bench.lua"), path.join(dir, "bench.lua"));
fs.copyFileSync(path.join(ROOT, "bench/gateways/heap/leak.lua"), path.join(dir, "leak.lua"));
const server = await startServer({
  scripts: dir,
  ...(BIN ? { bin: BIN } : {}),
  args: ["--lua-memory-limit", String(MB), "--log-level", "error"],
});
const leak = await connected(sio(server, {}, "/leak"));
const rows = [];
try {
  for (const level of LEVELS) {
    // Grow the kept data until the heap holds `level` % of the cap (bounded: 10,000 calls).
    const target = (MB << 20) * (level / 100);
    for (let i = 0; i < 10000 && (await metric(server, "switchboard_lua_memory_bytes")) < target; i++)
      await leak.timeout(10000).emitWithAck("fill", 500);
    const heap = await metric(server, "switchboard_lua_memory_bytes");
    const errors0 = await metric(server, "switchboard_lua_errors_total");
    const out = execFileSync(
      LOADGEN,
      ["rpc", "--target", `127.0.0.1:${server.port}`, "--rpc-event", "echo", "--conns", "20",
       "--duration", String(DURATION), "--server-pid", String(server.proc.pid)],
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: (DURATION + 60) * 1000 },
    );
    const r = JSON.parse(out.trim().split("\n").pop());
    rows.push({
      level, heap_mb: +(heap / 1048576).toFixed(2), requests_per_s: r.requests_per_s,
      p99_ms: r.p99_ms, max_ms: r.max_ms, timeouts: r.timeouts,
      lua_errors: (await metric(server, "switchboard_lua_errors_total")) - errors0,
    });
  }
} finally {
  leak.close();
  await server.stop("SIGTERM", 5000);
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`--lua-memory-limit ${MB}: echo requests while another gateway holds the heap`);
console.log("fill %  heap MiB  requests/s    p99 ms    max ms  lua errors");
for (const r of rows)
  console.log(
    `${String(r.level).padStart(6)}  ${r.heap_mb.toFixed(2).padStart(8)}  ${String(r.requests_per_s).padStart(10)}` +
      `  ${r.p99_ms.toFixed(2).padStart(8)}  ${r.max_ms.toFixed(2).padStart(8)}  ${String(r.lua_errors).padStart(10)}`,
  );
console.log(JSON.stringify({ bench: "lua-heap", mb: MB, rows }));
process.exit(0);
