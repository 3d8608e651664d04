// Browsers on another origin: CORS for the polling transport (--cors-origin, --cors-credentials,
// the OPTIONS preflight), off by default as in socket.io, and the Origin allow-list of new
// sessions on both transports (--allowed-origins). Raw requests for the headers, socket.io-client
// (with an Origin header) for the allow-list, and headless Chromium for what a browser does with
// it: a page on one origin connecting with default options to switchboard on another.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";

import { DEMO_PLUGINS, ROOT, SANITIZED, io, metric, startServer, stopClean } from "./helpers.mjs";
import { rawHttp, refusedUpgrade } from "./wire.mjs";

const APP = "https://app.example.com";
const OTHER = "https://evil.example.net";
const OPEN = "/socket.io/?EIO=4&transport=polling";

// The example gateways and plugins, with `args`.
const start = (args = []) => startServer({ plugins: DEMO_PLUGINS, args });

// A raw request (Origin is a header fetch() would not let us choose freely).
function request(server, method, p, headers = {}) {
  let s = `${method} ${p} HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: close\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  return rawHttp(server.port, s + "\r\n");
}

function client(server, origin, opts = {}) {
  return io(server.url, {
    reconnection: false,
    forceNew: true,
    timeout: 5000,
    extraHeaders: origin ? { origin } : {},
    ...opts,
  });
}

// Resolves "connect" or the connect_error's message.
function outcome(socket) {
  return new Promise((resolve) => {
    socket.once("connect", () => resolve("connect"));
    socket.once("connect_error", (e) => resolve(e.message));
  });
}

describe("CORS off (the default)", () => {
  let server;
  before(async () => {
    server = await start();
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("a polling answer carries no CORS header; OPTIONS is a bad handshake method", async () => {
    const res = await request(server, "GET", OPEN, { Origin: APP });
    assert.equal(res.status, 200);
    assert.equal(res.body[0], "0");
    assert.equal(res.headers["access-control-allow-origin"], undefined);
    const pre = await request(server, "OPTIONS", OPEN, {
      Origin: APP,
      "Access-Control-Request-Method": "POST",
    });
    assert.equal(pre.status, 400);
    assert.deepEqual(JSON.parse(pre.body), { code: 2, message: "Bad handshake method" });
    assert.equal(pre.headers["access-control-allow-origin"], undefined);
  });
});

describe("--cors-origin with --cors-credentials", () => {
  let server;
  before(async () => {
    server = await start(["--cors-origin", `${APP}, http://localhost:8080`, "--cors-credentials"]);
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("a listed origin gets its origin echoed, vary and credentials on every polling answer", async () => {
    const open = await request(server, "GET", OPEN, { Origin: APP });
    assert.equal(open.status, 200);
    assert.equal(open.headers["access-control-allow-origin"], APP);
    assert.equal(open.headers["access-control-allow-credentials"], "true");
    assert.match(open.headers.vary, /Origin/);
    // Errors too: a browser can only read an answer that carries them.
    const bad = await request(server, "GET", `${OPEN}&sid=nosuchsession`, {
      Origin: "http://LOCALHOST:8080",
    });
    assert.equal(bad.status, 400);
    assert.deepEqual(JSON.parse(bad.body), { code: 1, message: "Session ID unknown" });
    assert.equal(bad.headers["access-control-allow-origin"], "http://LOCALHOST:8080");
  });

  test("an origin not listed, or no origin, gets no CORS header", async () => {
    for (const headers of [{ Origin: OTHER }, {}, { Origin: APP + ".evil" }]) {
      const res = await request(server, "GET", OPEN, headers);
      assert.equal(res.status, 200, JSON.stringify(headers));
      assert.equal(res.headers["access-control-allow-origin"], undefined, JSON.stringify(headers));
      assert.equal(res.headers["access-control-allow-credentials"], undefined);
    }
  });

  test("the preflight: 204, the methods, the requested headers echoed; only listed origins allowed", async () => {
    const pre = await request(server, "OPTIONS", `${OPEN}&sid=abc`, {
      Origin: APP,
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "content-type,x-app",
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers["access-control-allow-origin"], APP);
    assert.equal(pre.headers["access-control-allow-credentials"], "true");
    assert.match(pre.headers["access-control-allow-methods"], /\bPOST\b/);
    assert.match(pre.headers["access-control-allow-methods"], /\bGET\b/);
    assert.equal(pre.headers["access-control-allow-headers"], "content-type,x-app");
    const other = await request(server, "OPTIONS", OPEN, {
      Origin: OTHER,
      "Access-Control-Request-Method": "POST",
    });
    assert.equal(other.status, 204);
    assert.equal(other.headers["access-control-allow-origin"], undefined);
  });

  test("JSONP polling (j=) → 400 code 3 and a log line, with the CORS headers", async () => {
    const res = await request(server, "GET", `${OPEN}&j=0`, { Origin: APP });
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.body), { code: 3, message: "Bad request" });
    assert.equal(res.headers["access-control-allow-origin"], APP);
    await server.waitForLog(/JSONP polling request \(j=\) refused/);
  });

  test("only the polling transport's path: /healthz has no CORS header", async () => {
    const res = await request(server, "GET", "/healthz", { Origin: APP });
    assert.equal(res.status, 200);
    assert.equal(res.headers["access-control-allow-origin"], undefined);
  });
});

describe("--allowed-origins", () => {
  let server;
  before(async () => {
    server = await start(["--allowed-origins", `${APP},http://localhost:8080`]);
  });
  after(async (t) => {
    await stopClean(t, server);
  });

  test("a new polling session from an origin not listed → 403 code 4, counted and logged", async () => {
    const before = await metric(server, 'switchboard_refusals_total{reason="origin"}');
    const res = await request(server, "GET", OPEN, { Origin: OTHER });
    assert.equal(res.status, 403);
    assert.deepEqual(JSON.parse(res.body), { code: 4, message: "Forbidden" });
    await server.waitForLog(/origin 'https:\/\/evil\.example\.net' is not in --allowed-origins/);
    assert.equal(await metric(server, 'switchboard_refusals_total{reason="origin"}'), before + 1);
  });

  test("a WebSocket upgrade from an origin not listed → 403 code 4", async () => {
    const res = await refusedUpgrade(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`, {
      headers: { Origin: OTHER },
    });
    assert.equal(res.status, 403);
    assert.deepEqual(JSON.parse(res.body), { code: 4, message: "Forbidden" });
  });

  test("socket.io-client: a listed origin and no origin connect on both transports; another is refused", async () => {
    for (const transports of [["polling", "websocket"], ["websocket"]]) {
      for (const [origin, want] of [
        [APP, "connect"],
        ["http://localhost:8080", "connect"],
        [undefined, "connect"], // not a browser: no Origin header
        [OTHER, transports[0] === "polling" ? "xhr poll error" : "websocket error"],
      ]) {
        const s = client(server, origin, { transports });
        const got = await outcome(s);
        s.close();
        assert.equal(got, want, `${origin} over ${transports[0]}`);
      }
    }
  });
});

// A real browser: the page comes from a second origin (a small Node server on another port
// serving a page and the socket.io-client bundle) and connects to switchboard with the client's
// default options, so its first requests are cross-origin polling XHRs.
describe("Chromium on another origin", () => {
  const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
  const SLOW = SANITIZED ? 4 : 1;
  let page, browser, servers = [];
  const bundle = fs.readFileSync(
    path.join(ROOT, "node_modules/socket.io-client/dist/socket.io.min.js"),
  );
  const site = http.createServer((req, res) => {
    if (req.url.startsWith("/socket.io.min.js")) {
      res.writeHead(200, { "content-type": "text/javascript" });
      return res.end(bundle);
    }
    res.writeHead(200, { "content-type": "text/html" });
    res.end('<!doctype html><script src="/socket.io.min.js"></script>');
  });
  let siteOrigin;

  before(async () => {
    await new Promise((r) => site.listen(0, "127.0.0.1", r));
    siteOrigin = `http://127.0.0.1:${site.address().port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
      timeout: 60000,
    });
    page = await browser.newPage();
    await page.goto(siteOrigin + "/");
  });
  after(async (t) => {
    if (browser) await browser.close().catch(() => {});
    await new Promise((r) => site.close(r));
    for (const s of servers) await stopClean(t, s);
  });

  // What the page's socket.io-client reports connecting to `url`: "connect websocket" (connected,
  // then upgraded) or the connect_error's message.
  const tryConnect = (url) =>
    page.evaluate(
      ({ url, ms }) =>
        new Promise((resolve) => {
          const s = io(url, { reconnection: false, timeout: ms, withCredentials: true });
          s.once("connect_error", (e) => (s.close(), resolve(e.message)));
          s.once("connect", () => {
            const done = () => (s.close(), resolve("connect " + s.io.engine.transport.name));
            if (s.io.engine.transport.name === "websocket") return done();
            s.io.engine.once("upgrade", done);
            setTimeout(done, ms);
          });
        }),
      { url, ms: 5000 * SLOW },
    );

  test("refused without --cors-origin, connected and upgraded with it", { timeout: 60000 * SLOW }, async () => {
    const plain = await start();
    servers.push(plain);
    assert.equal(await tryConnect(plain.url), "xhr poll error");
    const cors = await start(["--cors-origin", siteOrigin, "--cors-credentials"]);
    servers.push(cors);
    assert.equal(await tryConnect(cors.url), "connect websocket");
    // A CORS server that does not list the page's origin is refused by the browser as well.
    const elsewhere = await start(["--cors-origin", APP]);
    servers.push(elsewhere);
    assert.equal(await tryConnect(elsewhere.url), "xhr poll error");
  });
});
