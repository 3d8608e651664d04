// Plain HTTP: health and readiness, /metrics, 404/405 answers, and static directories, which
// must never serve a file from outside their directory.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  GATEWAYS,
  connected,
  metric,
  rawWs,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { getRequest, rawHttp } from "./wire.mjs";

const SCRIPTS = path.join(GATEWAYS, "http");
const SECRET = "TOP-SECRET-d41d8cd98f00b204";

// A temporary tree: public/ (served), assets/ (served under /assets) and secret.txt next to
// them (never served), plus a symlink inside public/ that points at the secret.
let tmp;
let publicDir;
let assetsDir;
function makeTree() {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sb-http-"));
  publicDir = path.join(tmp, "public");
  assetsDir = path.join(tmp, "assets");
  fs.mkdirSync(path.join(publicDir, "sub"), { recursive: true });
  fs.mkdirSync(assetsDir);
  fs.writeFileSync(path.join(publicDir, "index.html"), "<!doctype html><title>home</title>");
  fs.writeFileSync(path.join(publicDir, "app.js"), "console.log('app');\n");
  fs.writeFileSync(path.join(publicDir, "style.css"), "body { color: red }\n");
  fs.writeFileSync(path.join(publicDir, "data.json"), '{"a":1}');
  fs.writeFileSync(path.join(publicDir, "notes.txt"), "plain notes\n");
  fs.writeFileSync(path.join(publicDir, "blob.bin"), Buffer.from([0, 1, 2, 3]));
  fs.writeFileSync(path.join(publicDir, "sub", "index.html"), "<p>sub</p>");
  fs.writeFileSync(path.join(assetsDir, "lib.js"), "export const lib = 1;\n");
  fs.writeFileSync(path.join(tmp, "secret.txt"), SECRET);
  fs.symlinkSync(path.join(tmp, "secret.txt"), path.join(publicDir, "link.txt"));
  // A sibling whose name starts with the served directory's name ("public" / "public-private"):
  // a containment check by string prefix lets this symlink out.
  fs.mkdirSync(path.join(tmp, "public-private"));
  fs.writeFileSync(path.join(tmp, "public-private", "secret.txt"), SECRET);
  fs.symlinkSync(
    path.join(tmp, "public-private", "secret.txt"),
    path.join(publicDir, "sibling.txt"),
  );
}

describe("health, readiness, metrics and errors", () => {
  let server;
  before(async () => {
    server = await startServer({ scripts: SCRIPTS });
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("GET /healthz → 200 ok", async () => {
    const res = await fetch(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).trim(), "ok");
  });

  test("GET /readyz → 200", async () => {
    const res = await fetch(`${server.url}/readyz`);
    assert.equal(res.status, 200);
    await res.text();
  });

  test("GET /metrics → 200 text/plain with the connection gauges", async () => {
    const res = await fetch(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/plain/);
    const text = await res.text();
    assert.match(text, /^# TYPE switchboard_connections gauge$/m);
    assert.match(text, /^switchboard_connections\{protocol="socketio"\} \d+$/m);
    assert.match(text, /^switchboard_connections\{protocol="json"\} \d+$/m);
    // Every sample line is `name{labels} value` with a number.
    for (const line of text.split("\n")) {
      if (!line || line.startsWith("#")) continue;
      assert.match(line, /^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?\d+(\.\d+)?$/, line);
    }
  });

  test("the per-protocol connection gauges go up and down with clients", async () => {
    const SIO = 'switchboard_connections{protocol="socketio"}';
    const JSON_ = 'switchboard_connections{protocol="json"}';
    const base = [await metric(server, SIO), await metric(server, JSON_)];
    const a = await connected(sio(server));
    const b = await connected(sio(server));
    const j = rawWs(`${server.wsUrl}/plain`);
    await j.opened();
    const up = [await metric(server, SIO), await metric(server, JSON_)];
    assert.deepEqual(up, [base[0] + 2, base[1] + 1]);
    a.close();
    j.close();
    const end = Date.now() + 5000;
    let now;
    while (Date.now() < end) {
      now = [await metric(server, SIO), await metric(server, JSON_)];
      if (now[0] === base[0] + 1 && now[1] === base[1]) break;
      await sleep(20);
    }
    assert.deepEqual(now, [base[0] + 1, base[1]]);
    b.close();
  });

  test("an unknown path → 404 JSON", async () => {
    for (const p of ["/nope", "/healthz/x", "/metricsx", "/"]) {
      const res = await fetch(server.url + p);
      assert.equal(res.status, 404, p);
      assert.match(res.headers.get("content-type"), /application\/json/, p);
      assert.equal(typeof (await res.json()).message, "string", p);
    }
  });

  test("POST /metrics (and /healthz, /readyz) → 405", async () => {
    for (const p of ["/metrics", "/healthz", "/readyz"]) {
      const res = await fetch(server.url + p, { method: "POST", body: "x" });
      assert.equal(res.status, 405, p);
      await res.text();
    }
  });

  test("HEAD /healthz → 200 without a body", async () => {
    const res = await rawHttp(
      server.port,
      `HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 200);
  });
});

describe("--static", () => {
  let server;
  before(async () => {
    makeTree();
    server = await startServer({
      scripts: SCRIPTS,
      args: ["--static", publicDir, "--static", `/assets=${assetsDir}`],
    });
  });
  after(async (t) => {
    await stopClean(t, server);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("/ serves index.html as text/html", async () => {
    const res = await fetch(`${server.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type"), /^text\/html/);
    assert.equal(await res.text(), "<!doctype html><title>home</title>");
  });

  for (const [file, type] of [
    ["/index.html", /^text\/html/],
    ["/app.js", /^(text|application)\/javascript/],
    ["/style.css", /^text\/css/],
    ["/data.json", /^application\/json/],
    ["/notes.txt", /^text\/plain/],
    ["/blob.bin", /^application\/octet-stream/],
    ["/sub/", /^text\/html/],
    ["/assets/lib.js", /^(text|application)\/javascript/],
  ]) {
    test(`${file} is served with its content-type`, async () => {
      const res = await fetch(server.url + file);
      assert.equal(res.status, 200);
      assert.match(res.headers.get("content-type"), type);
      const body = Buffer.from(await res.arrayBuffer());
      const onDisk =
        file === "/sub/"
          ? path.join(publicDir, "sub/index.html")
          : file.startsWith("/assets/")
            ? path.join(assetsDir, file.slice(8))
            : path.join(publicDir, file);
      assert.deepEqual(body, fs.readFileSync(onDisk));
    });
  }

  test("a missing file → 404", async () => {
    const res = await fetch(`${server.url}/missing.html`);
    assert.equal(res.status, 404);
    await res.text();
  });

  test("the built-in routes win over a static mount at /", async () => {
    assert.equal((await (await fetch(`${server.url}/healthz`)).text()).trim(), "ok");
  });

  const TRAVERSALS = [
    "/../secret.txt",
    "/../../etc/passwd",
    "/../../../../../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2e%2e/etc/passwd",
    "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/%2E%2E/secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/sub/../../secret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/./../secret.txt",
    "/.../secret.txt",
    "/..\\secret.txt",
    "//../secret.txt",
    "/assets/../secret.txt",
    "/assets/%2e%2e/secret.txt",
    "/assets/..%2f..%2fetc/passwd",
    "/link.txt",
    "/sibling.txt",
    "/../public-private/secret.txt",
    "/%252e%252e/secret.txt",
    "/..%00/secret.txt",
  ];
  for (const p of TRAVERSALS) {
    test(`traversal ${p} never escapes the directory`, async () => {
      const res = await rawHttp(server.port, getRequest(server.port, p));
      assert.ok(
        [400, 403, 404].includes(res.status),
        `status ${res.status} for ${p}: ${res.body.slice(0, 200)}`,
      );
      assert.ok(!res.raw.includes(SECRET), `the secret file was served for ${p}`);
      assert.ok(!/root:.*:0:0:/.test(res.raw), `/etc/passwd was served for ${p}`);
    });
  }

  test("the server still answers after the traversal attempts", async () => {
    const res = await fetch(`${server.url}/app.js`);
    assert.equal(res.status, 200);
    await res.text();
  });
});
