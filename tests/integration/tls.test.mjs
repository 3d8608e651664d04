// TLS (--tls-cert, --tls-key): certificates the test makes with the openssl CLI in a temporary
// directory (self-signed for localhost and 127.0.0.1, their own CA), and real clients that verify
// them (rejectUnauthorized, the default): socket.io-client 4 with its default transports (HTTP
// long-polling over https://, then the upgrade to wss://) and with each transport alone, https
// GETs of /healthz, /metrics and a --static file, POST /api/emit, a plain `ws` client receiving
// many large frames whole and in order (the write path goes through lws under TLS), client
// messages and request bodies of several TLS records (lws_compat.h, 5), 19 MB to a client that
// stopped reading, once it reads again. Refused: a client that does not trust the certificate,
// plain HTTP on the TLS port, TLS 1.0 and 1.1, a TLS 1.2 suite outside the default list, a
// handshake that does not finish within 5 s. SIGHUP with new files: a connection opened before keeps
// working, a new one sees the new certificate (SHA-256 fingerprints compared); a reload with a
// bad key, a key of another certificate or another key type keeps the old certificate and says
// why. A chain file's intermediates are sent (a client trusting only the root verifies). At
// start: a missing, unreadable or mismatched file, one flag without the other and a
// cipher list OpenSSL does not know are errors naming what is wrong.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import tls from "node:tls";
import { after, before, describe, test } from "node:test";

import { GATEWAYS, io, once, sleep, startServer, stopClean, WebSocket } from "./helpers.mjs";
import { runBinary } from "./wire.mjs";

const SCRIPTS = path.join(GATEWAYS, "api_emit"); // `join` acks the rooms, `id` the socket id
const KEY = "tls-test-api-key-5c1e0b7d";

let dir;
const file = (name) => path.join(dir, name);

// A self-signed certificate for localhost and 127.0.0.1 (one day): its own CA. RSA by default.
function makeCert(name, { type = "rsa" } = {}) {
  const keyArgs =
    type === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] : ["-newkey", "rsa:2048"];
  execFileSync(
    "openssl",
    [
      "req", "-x509", ...keyArgs, "-nodes",
      "-keyout", file(`${name}.key`), "-out", file(`${name}.pem`), "-days", "1",
      "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  const pem = readFileSync(file(`${name}.pem`));
  return { pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}

// Puts a file in place the way a certificate renewal does: written beside, then renamed.
function install(from, to) {
  copyFileSync(from, `${to}.new`);
  renameSync(`${to}.new`, to);
}

// An https request verifying the server against `ca`. Resolves with the status, headers, body
// and the SHA-256 fingerprint of the certificate the server presented.
function request(port, urlPath, { ca, method = "GET", headers = {}, body, host = "127.0.0.1" } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host, port, path: urlPath, method, headers, ca, agent: false, timeout: 5000 },
      (res) => {
        const fingerprint = res.socket.getPeerCertificate().fingerprint256;
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, text, fingerprint }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("request timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

// A TLS handshake only: resolves with the negotiated protocol, suite and the peer's fingerprint,
// or rejects with the handshake's error.
function handshake(port, opts = {}) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...opts }, () => {
      const out = {
        protocol: s.getProtocol(),
        cipher: s.getCipher().name,
        fingerprint: s.getPeerCertificate().fingerprint256,
        alpn: s.alpnProtocol,
      };
      s.end();
      resolve(out);
    });
    s.setTimeout(5000, () => s.destroy(new Error("handshake timeout")));
    s.on("error", reject);
  });
}

// Starts the server with TLS and waits until /healthz answers over https with `ca`.
async function startTls({ args = [], ca, ...opts }) {
  const server = await startServer({ ...opts, args, waitReady: false });
  const end = Date.now() + 15000;
  for (;;) {
    if (server.proc.exitCode !== null) {
      await server.exited;
      throw new Error(`switchboard exited at start:\n${server.log()}`);
    }
    try {
      if ((await request(server.port, "/healthz", { ca })).status === 200) break;
    } catch {}
    if (Date.now() > end) {
      await server.stop("SIGKILL");
      throw new Error(`switchboard did not become healthy over https:\n${server.log()}`);
    }
    await sleep(30);
  }
  server.url = `https://127.0.0.1:${server.port}`;
  server.wsUrl = `wss://127.0.0.1:${server.port}`;
  return server;
}

// A socket.io-client socket over TLS, verifying with `ca`; default transports unless given.
function client(server, ca, opts = {}) {
  return io(server.url, { ca, reconnection: false, forceNew: true, timeout: 5000, ...opts });
}

function connect(socket, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timeout")), ms);
    socket.once("connect", () => (clearTimeout(timer), resolve(socket)));
    socket.once("connect_error", (e) => (clearTimeout(timer), reject(e)));
  });
}

// The transport a socket ends up on: waits for the upgrade to WebSocket when one is expected.
async function upgraded(socket, ms = 5000) {
  const engine = socket.io.engine;
  if (engine.transport.name === "websocket") return;
  await once(engine, "upgrade", ms);
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "sb-tls-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("serving https:// and wss:// with a verified certificate", () => {
  let server, first;
  const open = [];
  const staticDir = () => file("static");

  before(async () => {
    first = makeCert("first");
    makeCert("second");
    makeCert("other"); // its key belongs to another certificate
    makeCert("ec", { type: "ec" });
    install(file("first.pem"), file("live.pem"));
    install(file("first.key"), file("live.key"));
    mkdirSync(staticDir());
    writeFileSync(path.join(staticDir(), "hello.txt"), "hello over tls\n");
    server = await startTls({
      scripts: SCRIPTS,
      ca: first.pem,
      args: [
        "--tls-cert", file("live.pem"), "--tls-key", file("live.key"),
        "--api-key", KEY, "--static", `/files=${staticDir()}`,
      ],
    });
  });
  after(async (t) => {
    for (const s of open.splice(0)) s.close();
    if (server) await stopClean(t, server);
  });

  test("socket.io-client 4 with default options: polling over https, upgrade to wss, events both ways", async () => {
    const s = client(server, first.pem);
    open.push(s);
    const opened = new Promise((r) => s.io.once("open", () => r(s.io.engine.transport.name)));
    await connect(s);
    assert.equal(await opened, "polling", "socket.io-client starts on polling");
    await upgraded(s);
    assert.equal(s.io.engine.transport.name, "websocket");
    assert.deepEqual(await s.timeout(3000).emitWithAck("join", ["tls-room"]), [s.id, "tls-room"]);
    assert.equal(await s.timeout(3000).emitWithAck("id"), s.id);
    // A broadcast from POST /api/emit over https reaches it on wss.
    const got = once(s, "news");
    const res = await request(server.port, "/api/emit", {
      ca: first.pem,
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ event: "news", data: { over: "tls" }, rooms: ["tls-room"] }),
    });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(JSON.parse(res.text), { delivered: 1 });
    assert.deepEqual(await got, [{ over: "tls" }]);
    s.close();
  });

  test("each transport alone: HTTP long-polling over https, WebSocket over wss", async () => {
    for (const transports of [["polling"], ["websocket"]]) {
      const s = client(server, first.pem, { transports, upgrade: false });
      open.push(s);
      await connect(s);
      assert.equal(s.io.engine.transport.name, transports[0]);
      assert.equal(await s.timeout(3000).emitWithAck("id"), s.id);
      // Client messages of several TLS records (lws_compat.h, 5: they used to stall).
      for (const size of [5_000, 16_000, 30_000, 200_000])
        assert.equal(await s.timeout(3000).emitWithAck("id", "z".repeat(size)), s.id, `${size} bytes`);
      // A reply larger than one TLS record (16 KB) over the transport.
      const big = "x".repeat(100_000);
      const got = once(s, "big");
      const res = await request(server.port, "/api/emit", {
        ca: first.pem,
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ event: "big", data: big }),
      });
      assert.equal(res.status, 202, res.text);
      assert.equal((await got)[0], big, `${transports[0]}: the large message arrives whole`);
      s.close();
    }
  });

  test("many large frames to a plain WebSocket arrive whole and in order", async () => {
    const ws = new WebSocket(`${server.wsUrl}/`, { ca: first.pem });
    open.push(ws);
    await once(ws, "open");
    const got = [];
    ws.on("message", (d) => got.push(JSON.parse(d.toString())));
    const N = 40;
    const pad = "y".repeat(60_000);
    for (let i = 0; i < N; i++) {
      const res = await request(server.port, "/api/emit", {
        ca: first.pem,
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ event: "seq", data: { i, pad } }),
      });
      assert.equal(res.status, 202, res.text);
    }
    const end = Date.now() + 10000;
    while (got.length < N && Date.now() < end) await sleep(20);
    assert.equal(got.length, N);
    got.forEach((m, i) => {
      assert.equal(m.event, "seq");
      assert.equal(m.data.i, i, "in the order they were sent");
      assert.equal(m.data.pad, pad);
    });
    ws.close();
  });

  test("/healthz, /metrics and a --static file over https", async () => {
    const health = await request(server.port, "/healthz", { ca: first.pem, host: "localhost" });
    assert.equal(health.status, 200);
    assert.equal(health.fingerprint, first.fingerprint);
    const metrics = await request(server.port, "/metrics", { ca: first.pem });
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /^switchboard_connections\{protocol="socketio"\} \d+$/m);
    const f = await request(server.port, "/files/hello.txt", { ca: first.pem });
    assert.equal(f.status, 200);
    assert.equal(f.text, "hello over tls\n");
  });

  test("ALPN offers http/1.1 only, TLS 1.2 and 1.3 are served", async () => {
    const t13 = await handshake(server.port, { ca: first.pem, ALPNProtocols: ["h2", "http/1.1"] });
    assert.equal(t13.protocol, "TLSv1.3");
    assert.equal(t13.alpn, "http/1.1");
    const t12 = await handshake(server.port, { ca: first.pem, maxVersion: "TLSv1.2" });
    assert.equal(t12.protocol, "TLSv1.2");
    assert.match(t12.cipher, /^ECDHE-RSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
    // The server's order wins over the client's.
    const pref = await handshake(server.port, {
      ca: first.pem,
      maxVersion: "TLSv1.2",
      ciphers: "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256",
      honorCipherOrder: false,
    });
    assert.equal(pref.cipher, "ECDHE-RSA-AES128-GCM-SHA256");
  });

  test("TLS 1.2 renegotiation is refused", async () => {
    // openssl s_client renegotiates when it reads `R`; the server answers no_renegotiation.
    let out = "";
    try {
      out = execFileSync(
        "sh",
        ["-c", `(sleep 0.5; echo R; sleep 1) | openssl s_client -connect 127.0.0.1:${server.port} -tls1_2`],
        { stdio: ["ignore", "pipe", "pipe"], timeout: 8000 },
      ).toString();
    } catch (e) {
      out = `${e.stdout}${e.stderr}`;
    }
    assert.match(out, /RENEGOTIATING/);
    assert.match(out, /no renegotiation/);
  });

  test("refused: TLS 1.0 and 1.1, a TLS 1.2 suite outside the default list", async () => {
    for (const v of ["TLSv1", "TLSv1.1"]) {
      // Security level 0 so that the client really offers the old protocol (OpenSSL 3 would
      // not): the refusal is the server's protocol_version alert.
      await assert.rejects(
        handshake(server.port, { ca: first.pem, minVersion: v, maxVersion: v, ciphers: "DEFAULT@SECLEVEL=0" }),
        (e) => /alert protocol version|TLSV1_ALERT_PROTOCOL_VERSION/i.test(`${e.code} ${e.message}`),
        v,
      );
    }
    // Without forward secrecy, and CBC: not in Mozilla's intermediate list.
    await assert.rejects(
      handshake(server.port, { ca: first.pem, maxVersion: "TLSv1.2", ciphers: "AES128-SHA" }),
      (e) => /handshake failure|no shared cipher|SSLV3_ALERT_HANDSHAKE_FAILURE/i.test(`${e.code} ${e.message}`),
    );
    // openssl's own client, the way an operator checks it.
    let out = "";
    try {
      out = execFileSync(
        "openssl",
        ["s_client", "-connect", `127.0.0.1:${server.port}`, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
        { input: "", stdio: ["pipe", "pipe", "pipe"], timeout: 5000 },
      ).toString();
    } catch (e) {
      out = `${e.stdout}${e.stderr}`;
    }
    assert.match(out, /alert protocol version/);
    // Handshakes that end without a request (as every one above) are not warnings
    // (lws_compat.h, 6).
    assert.doesNotMatch(server.log(), /warn .*Missing URI/);
  });

  test("refused: a client that does not trust the certificate, and plain HTTP on the port", async () => {
    await assert.rejects(request(server.port, "/healthz"), (e) =>
      /SELF_SIGNED|self[- ]signed/i.test(`${e.code} ${e.message}`),
    );
    const s = client(server, undefined, { transports: ["websocket"] });
    await assert.rejects(connect(s), /websocket error|self[- ]signed/i);
    s.close();
    const p = client(server, undefined);
    await assert.rejects(connect(p), /xhr poll error|self[- ]signed/i);
    p.close();
    // Plain HTTP gets no HTTP answer: the server waits for a TLS ClientHello.
    const answer = await new Promise((resolve) => {
      const sock = net.connect(server.port, "127.0.0.1");
      let got = "";
      sock.on("data", (d) => (got += d.toString("latin1")));
      sock.on("error", () => {});
      sock.on("close", () => resolve(got));
      sock.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      setTimeout(() => sock.destroy(), 1500);
    });
    assert.doesNotMatch(answer, /^HTTP\//);
  });

  test("a TLS handshake that does not finish (nothing sent, half a ClientHello) is cut", async () => {
    const cut = (bytes) =>
      new Promise((resolve) => {
        const t0 = Date.now();
        const sock = net.connect(server.port, "127.0.0.1", () => bytes && sock.write(bytes));
        const timer = setTimeout(() => (sock.destroy(), resolve(Infinity)), 15000);
        sock.on("error", () => {});
        sock.on("close", () => (clearTimeout(timer), resolve(Date.now() - t0)));
      });
    const [silent, half] = await Promise.all([
      cut(null),
      cut(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00, 0xc4])),
    ]);
    // lws's handshake deadline (5 s here); a sanitized server is slower to notice.
    for (const ms of [silent, half]) assert.ok(ms >= 3000 && ms < 13000, `closed after ${ms} ms`);
  });

  test("SIGHUP: a new certificate for new connections, the open ones stay", async () => {
    const second = { pem: readFileSync(file("second.pem")) };
    second.fingerprint = new X509Certificate(second.pem).fingerprint256;
    const ca = [first.pem, second.pem];
    const before = client(server, ca);
    open.push(before);
    await connect(before);
    await upgraded(before);
    const polling = client(server, ca, { transports: ["polling"] });
    open.push(polling);
    await connect(polling);
    const seenBefore = (await handshake(server.port, { ca })).fingerprint;
    assert.equal(seenBefore, first.fingerprint);

    install(file("second.pem"), file("live.pem"));
    install(file("second.key"), file("live.key"));
    const mark = server.log().length;
    process.kill(server.proc.pid, "SIGHUP");
    await server.waitForLog(/TLS certificate reloaded/);
    assert.ok(server.log().slice(mark).includes(second.fingerprint), "the log names the new fingerprint");

    assert.equal((await handshake(server.port, { ca })).fingerprint, second.fingerprint);
    assert.equal((await request(server.port, "/healthz", { ca: second.pem })).fingerprint, second.fingerprint);
    // The connections opened before the reload still work, on both transports.
    assert.equal(await before.timeout(3000).emitWithAck("id"), before.id);
    assert.equal(before.io.engine.transport.name, "websocket");
    assert.equal(await polling.timeout(3000).emitWithAck("id"), polling.id);
    // A client that trusts only the old certificate no longer gets in.
    await assert.rejects(request(server.port, "/healthz", { ca: first.pem }));
    const after = client(server, second.pem);
    open.push(after);
    await connect(after);
    await upgraded(after);
    assert.equal(await after.timeout(3000).emitWithAck("id"), after.id);
    before.close();
    polling.close();
    after.close();
  });

  test("SIGHUP with bad files keeps the certificate in use and logs why", async () => {
    const current = (await handshake(server.port, { ca: readFileSync(file("live.pem")) })).fingerprint;
    const ca = readFileSync(file("live.pem"));
    const goodKey = readFileSync(file("live.key"));
    const keep = client(server, ca, { transports: ["websocket"] });
    open.push(keep);
    await connect(keep);
    const cases = [
      { why: /not an unencrypted PEM private key/, key: () => writeFileSync(file("live.key"), "not a key\n") },
      { why: /is not the key of the certificate/, key: () => install(file("other.key"), file("live.key")) },
      { why: /key is rsaEncryption.*new one's is id-ecPublicKey|a new key type needs a restart/,
        key: () => (install(file("ec.pem"), file("live.pem")), install(file("ec.key"), file("live.key"))) },
      { why: /--tls-key .*cannot read it/, key: () => rmSync(file("live.key")) },
    ];
    for (const c of cases) {
      c.key();
      const mark = server.log().length;
      process.kill(server.proc.pid, "SIGHUP");
      const end = Date.now() + 5000;
      while (!/TLS reload failed/.test(server.log().slice(mark)) && Date.now() < end) await sleep(20);
      const tail = server.log().slice(mark);
      assert.match(tail, /TLS reload failed, the certificate in use stays/);
      assert.match(tail, c.why);
      assert.equal((await handshake(server.port, { ca })).fingerprint, current, "the old certificate is served");
      assert.equal(await keep.timeout(3000).emitWithAck("id"), keep.id);
      // Put the good pair back for the next case.
      writeFileSync(file("live.pem"), ca);
      writeFileSync(file("live.key"), goodKey);
    }
    keep.close();
  });
});

describe("a client that stops reading, over TLS", () => {
  let server, cert;
  before(async () => {
    cert = makeCert("slow");
    server = await startTls({
      scripts: SCRIPTS,
      ca: cert.pem,
      args: ["--tls-cert", file("slow.pem"), "--tls-key", file("slow.key"), "--api-key", KEY,
             "--max-queue", String(64 << 20)],
    });
  });
  after(async (t) => {
    if (server) await stopClean(t, server);
  });

  test("what the kernel does not take waits in lws (TLS records), then arrives whole and in order", async () => {
    const ws = new WebSocket(`${server.wsUrl}/`, { ca: cert.pem });
    await once(ws, "open");
    const got = [];
    ws.on("message", (d) => got.push(JSON.parse(d.toString())));
    // Paused: 19 MB, more than the loopback socket buffers hold (the server's send queue stops
    // at ~2.8 MB here), so writes come back short and lws keeps the rest of a TLS record until
    // the socket drains.
    ws._socket.pause();
    const N = 24;
    const pad = "s".repeat(800_000);
    for (let i = 0; i < N; i++) {
      const res = await request(server.port, "/api/emit", {
        ca: cert.pem,
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ event: "slow", data: { i, pad } }),
      });
      assert.equal(res.status, 202, res.text);
    }
    await sleep(300);
    assert.equal(got.length, 0, "nothing read while paused");
    ws._socket.resume();
    const end = Date.now() + 15000;
    while (got.length < N && Date.now() < end) await sleep(20);
    assert.equal(got.length, N);
    got.forEach((m, i) => {
      assert.equal(m.data.i, i);
      assert.equal(m.data.pad, pad);
    });
    // The connection is still usable both ways.
    const ack = once(ws, "message");
    ws.send(JSON.stringify({ event: "id", data: null }));
    assert.equal(typeof JSON.parse((await ack)[0].toString()), "string", "the `id` handler's answer");
    ws.close();
  });
});

describe("a certificate chain: the server sends its intermediates", () => {
  let server;
  const ssl = (...args) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

  before(async () => {
    // A root CA, an intermediate it signs, a server certificate the intermediate signs.
    writeFileSync(
      file("chain.cnf"),
      "[int]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n" +
        "[leaf]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" +
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    );
    ssl("req", "-x509", ...ec, "-keyout", "root.key", "-out", "root.pem", "-days", "1", "-subj", "/CN=test root");
    ssl("req", ...ec, "-keyout", "int.key", "-out", "int.csr", "-subj", "/CN=test intermediate");
    ssl("x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key", "-CAcreateserial",
        "-days", "1", "-out", "int.pem", "-extfile", "chain.cnf", "-extensions", "int");
    ssl("req", ...ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=localhost");
    ssl("x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey", "int.key", "-CAcreateserial",
        "-days", "1", "-out", "leaf.pem", "-extfile", "chain.cnf", "-extensions", "leaf");
    writeFileSync(file("fullchain.pem"), Buffer.concat([readFileSync(file("leaf.pem")), readFileSync(file("int.pem"))]));
    install(file("leaf.pem"), file("served.pem"));
    server = await startTls({
      scripts: SCRIPTS,
      ca: [readFileSync(file("root.pem")), readFileSync(file("int.pem"))],
      args: ["--tls-cert", file("served.pem"), "--tls-key", file("leaf.key")],
    });
  });
  after(async (t) => {
    if (server) await stopClean(t, server);
  });

  test("a client trusting only the root needs the intermediate from the server (after SIGHUP too)", async () => {
    const root = readFileSync(file("root.pem"));
    // The certificate alone: the client cannot build the chain to its root.
    await assert.rejects(handshake(server.port, { ca: root }), (e) =>
      /UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify the first certificate|local issuer/i.test(`${e.code} ${e.message}`),
    );
    install(file("fullchain.pem"), file("served.pem"));
    process.kill(server.proc.pid, "SIGHUP");
    await server.waitForLog(/TLS certificate reloaded/);
    const ok = await handshake(server.port, { ca: root });
    assert.equal(ok.fingerprint, new X509Certificate(readFileSync(file("leaf.pem"))).fingerprint256);
    const s = client(server, root);
    await connect(s);
    await upgraded(s);
    assert.equal(await s.timeout(3000).emitWithAck("id"), s.id);
    s.close();
  });
});

describe("TLS settings refused at start", () => {
  let good;
  before(() => {
    good = makeCert("start");
    makeCert("start-other");
  });
  const run = (args) => runBinary(["--listen", "127.0.0.1:0", "--scripts", SCRIPTS, ...args]);

  test("--tls-cert without --tls-key, and the other way round: usage, exit 2", async () => {
    for (const [flag, other] of [["--tls-cert", "--tls-key"], ["--tls-key", "--tls-cert"]]) {
      const r = await run([flag, file("start.pem")]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`${flag} given without ${other}: TLS needs both`));
    }
    const r = await runBinary(["--listen", "127.0.0.1:0", "--scripts", SCRIPTS], {
      env: { SWITCHBOARD_TLS_CERT: file("start.pem") },
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--tls-cert given without --tls-key/);
  });

  test("a missing, unreadable or wrong file is an error naming it", async () => {
    const cert = file("start.pem");
    const key = file("start.key");
    writeFileSync(file("locked.key"), readFileSync(key));
    chmodSync(file("locked.key"), 0);
    writeFileSync(file("empty.pem"), "");
    const cases = [
      [["--tls-cert", file("missing.pem"), "--tls-key", key], /--tls-cert .*missing\.pem: cannot read it: No such file/],
      [["--tls-cert", cert, "--tls-key", file("missing.key")], /--tls-key .*missing\.key: cannot read it: No such file/],
      [["--tls-cert", file("empty.pem"), "--tls-key", key], /--tls-cert .*empty\.pem: not a PEM certificate/],
      [["--tls-cert", key, "--tls-key", key], /--tls-cert .*start\.key: not a PEM certificate/],
      [["--tls-cert", cert, "--tls-key", cert], /--tls-key .*start\.pem: not an unencrypted PEM private key/],
      [["--tls-cert", cert, "--tls-key", file("start-other.key")], /--tls-key .*start-other\.key is not the key of the certificate in --tls-cert .*start\.pem/],
      [["--tls-cert", cert, "--tls-key", key, "--tls-ciphers", "NOT-A-CIPHER"], /--tls-ciphers 'NOT-A-CIPHER': no cipher of it is known/],
    ];
    // Root reads a file whatever its mode.
    if (process.getuid?.() !== 0)
      cases.push([["--tls-cert", cert, "--tls-key", file("locked.key")], /--tls-key .*locked\.key: cannot read it: Permission denied/]);
    for (const [args, re] of cases) {
      const r = await run(args);
      assert.notEqual(r.code, 0, `${args.join(" ")} started`);
      assert.equal(r.signal, null);
      assert.match(r.stderr + r.stdout, re);
      assert.doesNotMatch(r.stderr + r.stdout, /cannot listen/);
    }
    assert.ok(good.fingerprint);
  });
});
