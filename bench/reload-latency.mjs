#!/usr/bin/env node
// bench/reload-latency.mjs: how long a gateway edit takes to serve (the gateways issue asks for
// "within a second"). Starts its own switchboard on a free loopback port with one gateway in a
// temporary directory, keeps one Socket.IO client asking `v` for the version, rewrites the file
// EDITS times and measures, for each edit, the time from the write until the first answer of
// the new version. Prints one JSON line; asserts nothing. Stops the server by PID.
//
//   node bench/reload-latency.mjs [--edits 20] [--bin build/switchboard]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { connected, sio, startServer } from "../tests/integration/helpers.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const EDITS = Number(opt("edits", 20));
if (opt("bin")) process.env.SWITCHBOARD_BIN = path.resolve(opt("bin"));

const source = (v) => `return { namespace = "/", events = { v = function() return ${v} end } }\n`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sb-reload-bench-"));
const file = path.join(dir, "version.lua");
fs.writeFileSync(file, source(0));

const server = await startServer({ scripts: dir, args: ["--log-level", "warn"] });
const s = await connected(sio(server));
const times = [];
const deadline = Date.now() + 60_000;
try {
  for (let v = 1; v <= EDITS && Date.now() < deadline; v++) {
    // Write to a new file and rename it over the old one, as editors do.
    fs.writeFileSync(`${file}.tmp`, source(v));
    const t0 = performance.now();
    fs.renameSync(`${file}.tmp`, file);
    for (;;) {
      const got = await s.timeout(2000).emitWithAck("v");
      if (got === v) break;
      if (Date.now() > deadline) throw new Error(`version ${v} never served`);
    }
    times.push(performance.now() - t0);
  }
} finally {
  s.close();
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}
times.sort((a, b) => a - b);
const q = (p) => times[Math.min(times.length - 1, Math.floor(p * times.length))];
console.log(
  JSON.stringify({
    scenario: "reload",
    edits: times.length,
    p50_ms: +q(0.5).toFixed(1),
    max_ms: +times[times.length - 1].toFixed(1),
    min_ms: +times[0].toFixed(1),
  }),
);
