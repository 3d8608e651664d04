#!/usr/bin/env node
// What TLS costs the server (issue 16, point 2): server CPU per delivered broadcast and per new
// connection, plain against TLS, in one run, with the same binary, gateway and clients.
//
//   node bench/tls-cost.mjs [--bin build/switchboard] [--clients 500] [--broadcasts 400]
//                           [--payload 100] [--handshakes 1000] [--concurrency 8] [--rounds 2]
//                           [--modes plain,tls-rsa2048,tls-ecp256] [--perf DIR]
//
// Three servers one after the other, each fresh: plain (ws://), TLS with an RSA 2048 certificate,
// TLS with an EC P-256 one (both self-signed, made here with the openssl CLI; clients verify
// them). For each:
//   delivery:  --clients plain-JSON WebSocket clients (npm `ws`) and one more that sends `blast`
//              (bench/gateways/bench.lua broadcasts it to the others); each broadcast waits until
//              every client has it. Server CPU over --broadcasts broadcasts / deliveries. Also
//              the server's RSS growth per connection once they are all open (idle).
//   handshake: --handshakes new WebSocket connections (--concurrency at a time), each opened and
//              closed at once. Server CPU / connections. TLS handshakes are full ones: the
//              clients keep no session to resume.
// Server CPU is the sum of the process's threads' on-CPU time from /proc/PID/task/*/schedstat
// (nanoseconds), read before and after. The clients run in this process, on the same machine:
// compare the modes within one run, not figures across machines.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const BIN = path.resolve(arg("bin", path.join(ROOT, "build/switchboard")));
const CLIENTS = Number(arg("clients", 500));
const BROADCASTS = Number(arg("broadcasts", 400));
const PAYLOAD = Number(arg("payload", 100));
const HANDSHAKES = Number(arg("handshakes", 1000));
const CONCURRENCY = Number(arg("concurrency", 8));
const ROUNDS = Number(arg("rounds", 2));
const MODES = arg("modes", "plain,tls-rsa2048,tls-ecp256").split(",");
const PERF = arg("perf", null); // a directory: `perf record` of each server's two phases

const dir = mkdtempSync(path.join(os.tmpdir(), "sb-tls-bench-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

function makeCert(name, keyArgs) {
  execFileSync("openssl", [
    "req", "-x509", ...keyArgs, "-nodes", "-keyout", path.join(dir, `${name}.key`),
    "-out", path.join(dir, `${name}.pem`), "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
  ], { stdio: "ignore" });
  return { cert: path.join(dir, `${name}.pem`), key: path.join(dir, `${name}.key`),
           ca: readFileSync(path.join(dir, `${name}.pem`)) };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// On-CPU nanoseconds of every thread of `pid`.
function cpuNs(pid) {
  let sum = 0;
  for (const t of readdirSync(`/proc/${pid}/task`))
    sum += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, "utf8").split(" ")[0]);
  return sum;
}

function healthy(port, tls) {
  return new Promise((resolve) => {
    if (!tls) {
      const s = net.connect(port, "127.0.0.1", () => {
        s.write("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      });
      let got = "";
      s.on("data", (d) => (got += d));
      s.on("close", () => resolve(/^HTTP\/1\.1 200/.test(got)));
      s.on("error", () => resolve(false));
      return;
    }
    const req = https.request({ host: "127.0.0.1", port, path: "/healthz", ca: tls.ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.end();
  });
}

async function start(tls) {
  const port = await freePort();
  const args = ["--listen", `127.0.0.1:${port}`, "--scripts", path.join(ROOT, "bench/gateways"),
                "--log-level", "warn", "--max-connections", "100000"];
  if (tls) args.push("--tls-cert", tls.cert, "--tls-key", tls.key);
  const proc = spawn(BIN, args, { stdio: ["ignore", "ignore", "inherit"] });
  for (let i = 0; i < 300 && !(await healthy(port, tls)); i++) await sleep(20);
  return { port, proc, url: `${tls ? "wss" : "ws"}://127.0.0.1:${port}/` };
}

function open(server, tls) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(server.url, { ca: tls?.ca, perMessageDeflate: false });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

// Resident memory of `pid`, bytes.
const rss = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) * 1024;

async function delivery(server, tls) {
  const rss0 = rss(server.proc.pid);
  const clients = [];
  for (let i = 0; i < CLIENTS; i += 50)
    clients.push(...(await Promise.all(Array.from({ length: Math.min(50, CLIENTS - i) }, () => open(server, tls)))));
  const sender = await open(server, tls);
  await sleep(300);
  const bytesPerConnection = (rss(server.proc.pid) - rss0) / (CLIENTS + 1);
  let got = 0, want = 0, wake = null;
  for (const c of clients)
    c.on("message", () => {
      if (++got === want && wake) wake();
    });
  const pad = "p".repeat(PAYLOAD);
  const blast = async (n) => {
    want += CLIENTS;
    const done = new Promise((r) => (wake = r));
    sender.send(JSON.stringify({ event: "blast", data: { n, pad } }));
    await done;
  };
  for (let i = 0; i < 20; i++) await blast(i); // warm-up
  const perf = PERF && spawn("perf", ["record", "-F", "1999", "-g", "-p", String(server.proc.pid),
                                      "-o", path.join(PERF, `${server.mode}.data`)], { stdio: "ignore" });
  if (perf) await sleep(500);
  const t0 = cpuNs(server.proc.pid);
  const w0 = Date.now();
  for (let i = 0; i < BROADCASTS; i++) await blast(i);
  const ns = cpuNs(server.proc.pid) - t0;
  const wall = Date.now() - w0;
  if (perf) {
    perf.kill("SIGINT");
    await new Promise((r) => perf.once("close", r));
  }
  for (const c of [...clients, sender]) c.terminate();
  return { usPerDelivery: ns / 1000 / (BROADCASTS * CLIENTS), wallMs: wall, bytesPerConnection };
}

async function handshakes(server, tls) {
  const once = () =>
    open(server, tls).then(
      (ws) => new Promise((r) => (ws.once("close", r), ws.close())),
    );
  for (let i = 0; i < 20; i++) await once(); // warm-up
  const perf = PERF && spawn("perf", ["record", "-F", "1999", "-g", "-p", String(server.proc.pid),
                                      "-o", path.join(PERF, `${server.mode}-handshake.data`)], { stdio: "ignore" });
  await sleep(perf ? 500 : 200);
  const t0 = cpuNs(server.proc.pid);
  let left = HANDSHAKES;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (left-- > 0) await once();
  }));
  await sleep(200); // the closes finish on the server
  const ns = cpuNs(server.proc.pid) - t0;
  if (perf) {
    perf.kill("SIGINT");
    await new Promise((r) => perf.once("close", r));
  }
  return { usPerConnection: ns / 1000 / HANDSHAKES };
}

const rsa = makeCert("rsa", ["-newkey", "rsa:2048"]);
const ec = makeCert("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]);
const modes = [["plain", null], ["tls-rsa2048", rsa], ["tls-ecp256", ec]].filter(([m]) => MODES.includes(m));
console.log(`# ${os.cpus().length} CPUs ${os.cpus()[0].model}, load ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
console.log(`# clients ${CLIENTS}, broadcasts ${BROADCASTS}, payload ${PAYLOAD} B, handshakes ${HANDSHAKES} x${CONCURRENCY}`);
console.log("round\tmode\tus/delivery\tbroadcast wall ms\tus/connection\tRSS bytes/connection (idle, after the handshake)");
const results = {};
for (let round = 1; round <= ROUNDS; round++) {
  for (const [name, tls] of modes) {
    const server = await start(tls);
    server.mode = name;
    const d = await delivery(server, tls);
    await sleep(300);
    const h = await handshakes(server, tls);
    server.proc.kill("SIGTERM");
    await new Promise((r) => server.proc.once("close", r));
    (results[name] ??= []).push({ ...d, ...h });
    console.log(`${round}\t${name}\t${d.usPerDelivery.toFixed(2)}\t${d.wallMs}\t${h.usPerConnection.toFixed(1)}\t${Math.round(d.bytesPerConnection)}`);
  }
}
const mean = (a, k) => a.reduce((s, r) => s + r[k], 0) / a.length;
const plainD = results.plain ? mean(results.plain, "usPerDelivery") : 0;
const plainH = results.plain ? mean(results.plain, "usPerConnection") : 0;
console.log("# mean over rounds, and the TLS cost (TLS minus plain)");
for (const [name] of modes) {
  const d = mean(results[name], "usPerDelivery"), h = mean(results[name], "usPerConnection");
  console.log(`${name}\t${d.toFixed(2)} us/delivery (+${(d - plainD).toFixed(2)})\t` +
              `${h.toFixed(1)} us/connection (+${(h - plainH).toFixed(1)})`);
}
