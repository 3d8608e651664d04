#!/usr/bin/env node
// bench/hashflood.mjs: hash flooding of room names. Computes, offline as an attacker would,
// 20,000 room names that all collide under the map's former hash (32-bit FNV-1a: Joux's
// multicollisions, 15 birthday searches for two 6-letter blocks that lead to the same state),
// then, for each binary given, starts switchboard (on a free loopback port, stopped by PID) with
// bench/gateways/hashflood/rooms.lua and times 200 sockets joining 100 of those names each (as
// a gateway that caps rooms per socket, like scripts/chat.lua, allows), against 20,000 random
// names of the same length; then the time of a /healthz once the rooms exist. (One socket in
// 20,000 rooms would measure something else: a socket's own memberships are a list.) Prints a table and one JSON line; asserts nothing.
//
//   node bench/hashflood.mjs [--bin build/switchboard[,/path/to/old/switchboard]] [--names 20000]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connected, sio, startServer } from "../tests/integration/helpers.mjs";

const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const BINS = opt("bin", path.join(ROOT, "build/switchboard")).split(",").map((b) => path.resolve(b));
const NAMES = Math.min(Number(opt("names", 20000)), 32768);
const BATCH = 100; // rooms per socket, joined in one event

// ---- the names ----
const STAGES = 15, BLOCK = 6, CANDS = 1 << 18;
const ALPHA = "abcdefghijklmnopqrstuvwxyz0123456789";
const fnv = (h, s) => {
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
};
let seed = 0x2545f491;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % ALPHA.length;
const block = () => Array.from({ length: BLOCK }, () => ALPHA[rand()]).join("");
function multicollisions() {
  const pairs = [];
  let state = 2166136261;
  while (pairs.length < STAGES) {
    const seen = new Map();
    for (let i = 0; i < CANDS; i++) {
      const b = block(), h = fnv(state, b), other = seen.get(h);
      if (other !== undefined && other !== b) {
        pairs.push([other, b]);
        state = h;
        break;
      }
      seen.set(h, b);
    }
  }
  const names = [];
  for (let n = 0; n < NAMES; n++)
    names.push(pairs.map((p, st) => p[(n >> st) & 1]).join(""));
  return names;
}
const t0 = performance.now();
const colliding = multicollisions();
const h0 = fnv(2166136261, colliding[0]);
if (!colliding.every((n) => fnv(2166136261, n) === h0)) throw new Error("names do not collide");
const random = Array.from({ length: NAMES }, () =>
  Array.from({ length: STAGES }, block).join(""));
console.log(`${NAMES} colliding names computed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

// ---- the runs ----
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-hashflood-"));
fs.copyFileSync(path.join(ROOT, "bench/gateways/hashflood/rooms.lua"), path.join(dir, "rooms.lua"));
async function run(bin, names) {
  // No per-handler time limit: the point is how long the joins take, not where they are cut.
  const server = await startServer({ bin, scripts: dir, args: ["--lua-time-limit", "0",
                                                                "--log-level", "error"] });
  const socks = [];
  try {
    for (let i = 0; i < names.length; i += BATCH) socks.push(await connected(sio(server, {}, "/flood")));
    const start = performance.now();
    await Promise.all(socks.map((s, k) =>
      s.timeout(600000).emitWithAck("join", names.slice(k * BATCH, (k + 1) * BATCH))));
    const joins_s = (performance.now() - start) / 1000;
    const h = performance.now();
    await fetch(`http://127.0.0.1:${server.port}/healthz`);
    return { joins_s: +joins_s.toFixed(3), healthz_ms: +(performance.now() - h).toFixed(1) };
  } finally {
    for (const s of socks) s.close();
    await server.stop("SIGTERM", 5000);
  }
}
const rows = [];
try {
  for (const bin of BINS)
    for (const [kind, names] of [["random", random], ["colliding", colliding]])
      rows.push({ bin, kind, ...(await run(bin, names)) });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`${NAMES} joins: ${NAMES / BATCH} sockets, ${BATCH} rooms each in one event`);
console.log("binary                                    names       joins s  healthz ms");
for (const r of rows)
  console.log(`${r.bin.slice(-40).padEnd(40)}  ${r.kind.padEnd(10)}  ${r.joins_s.toFixed(3).padStart(8)}` +
              `  ${r.healthz_ms.toFixed(1).padStart(10)}`);
console.log(JSON.stringify({ bench: "hashflood", names: NAMES, rows }));
process.exit(0);
