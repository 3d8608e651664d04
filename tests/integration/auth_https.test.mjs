// auth-http over HTTPS: real TLS services (node:https on loopback ports, in this process) whose
// certificates the test makes with the openssl CLI in a temporary directory. The trusted one is
// self-signed for localhost and 127.0.0.1 and given to the plugin as its CA (ca=FILE); real
// socket.io-client connections are accepted or refused through it. Covered: accept and refuse
// over https by IP address and by host name (localhost, resolved by libcurl); a certificate not
// signed by the given CA, and one for another host name, refused with a warning; a redirect
// refused with a warning naming where it pointed, never followed; the plugin's timeout on a
// service that never answers and on one that never finishes the TLS handshake; a graceful
// shutdown with a question in flight; CONFIG errors at start (ca= unreadable, ca= on http://,
// a scheme that is not http or https); no token in any log.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import {
  GATEWAYS,
  connected,
  freePort,
  once,
  sio,
  sleep,
  startServer,
  stopClean,
} from "./helpers.mjs";
import { runBinary } from "./wire.mjs";

const DIR = path.join(GATEWAYS, "auth_async"); // whoami: socket.user and socket.claims
const TIMEOUT = 400; // the plugin's timeout on the servers that test it

let certDir;
const file = (name) => path.join(certDir, name);

// A self-signed certificate (EC P-256, one day) for `san`: it is its own CA.
function makeCert(name, cn, san) {
  execFileSync(
    "openssl",
    [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", file(`${name}.key`), "-out", file(`${name}.pem`), "-days", "1",
      "-subj", `/CN=${cn}`, "-addext", `subjectAltName=${san}`,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { key: readFileSync(file(`${name}.key`)), cert: readFileSync(file(`${name}.pem`)) };
}

// ---- the services ----

// Every request a service got: { service, path, token, nsp }.
const requests = [];
const usedTokens = new Set();
const tok = (t) => (usedTokens.add(t), t);
const callsFor = (token) => requests.filter((r) => r.token === token).length;

const json = (res, status, body) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

function answer(service, req, res) {
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || "");
  const token = bearer ? bearer[1] : req.headers["x-token"];
  const nsp = req.headers["x-switchboard-namespace"];
  requests.push({ service, path: req.url, token, nsp });
  if (req.url !== "/check") return json(res, 200, { user: "not-the-configured-path" });
  const name = (token || "").replace(/^[a-z]+-/, "");
  if (token?.startsWith("good-")) return json(res, 200, { user: name, claims: { via: "https", nsp } });
  if (token?.startsWith("deny-")) return json(res, 401, { message: "account suspended" });
  if (token?.startsWith("moved-")) {
    // The token comes back in the Location: it must not reach the log.
    res.writeHead(302, { location: `https://localhost:${goodPort}/elsewhere?token=${token}` });
    return res.end();
  }
  if (token?.startsWith("never-")) return; // no answer at all
  return json(res, 401, {});
}

let good, rogue, misnamed, blackHole;
let goodPort, roguePort, misnamedPort, blackHolePort;
const openSockets = new Set();

function listen(server) {
  server.on("connection", (s) => {
    openSockets.add(s);
    s.on("close", () => openSockets.delete(s));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server.address().port)));
}

// The switchboard servers.
let byIp; // https://127.0.0.1, ca = the trusted certificate, timeout 400
let byName; // https://localhost, ca = the trusted certificate
let untrusted; // a service whose certificate is not the given CA
let wrongName; // a service whose certificate (given as the CA) is for another host name
let hanging; // a TCP port that accepts and never speaks TLS, timeout 400
const servers = () => [byIp, byName, untrusted, wrongName, hanging];

before(async () => {
  certDir = mkdtempSync(path.join(tmpdir(), "sb-auth-https-"));
  const trusted = makeCert("trusted", "localhost", "DNS:localhost,IP:127.0.0.1");
  const other = makeCert("other", "localhost", "DNS:localhost,IP:127.0.0.1");
  const elsewhere = makeCert("elsewhere", "elsewhere.test", "DNS:elsewhere.test");
  good = https.createServer(trusted, (req, res) => answer("good", req, res));
  rogue = https.createServer(other, (req, res) => answer("rogue", req, res));
  misnamed = https.createServer(elsewhere, (req, res) => answer("misnamed", req, res));
  blackHole = net.createServer(() => {}); // accepts, reads nothing, says nothing
  [goodPort, roguePort, misnamedPort, blackHolePort] = await Promise.all(
    [good, rogue, misnamed, blackHole].map(listen),
  );
  const ca = file("trusted.pem");
  const plugin = (url, extra = "") => `auth-http=url=${url},ca=${ca}${extra}`;
  const common = { scripts: DIR, args: ["--log-level", "debug", "--auth-timeout", "4000"] };
  [byIp, byName, untrusted, wrongName, hanging] = await Promise.all([
    startServer({ ...common, plugins: [plugin(`https://127.0.0.1:${goodPort}/check`, `,timeout=${TIMEOUT}`)] }),
    startServer({ ...common, plugins: [plugin(`https://localhost:${goodPort}/check`)] }),
    startServer({ ...common, plugins: [plugin(`https://127.0.0.1:${roguePort}/check`)] }),
    startServer({
      ...common,
      plugins: [`auth-http=url=https://127.0.0.1:${misnamedPort}/check,ca=${file("elsewhere.pem")}`],
    }),
    startServer({ ...common, plugins: [plugin(`https://127.0.0.1:${blackHolePort}/check`, `,timeout=${TIMEOUT}`)] }),
  ]);
});

after(async (t) => {
  for (const s of servers()) if (s) await stopClean(t, s);
  for (const s of openSockets) s.destroy();
  await Promise.all(
    [good, rogue, misnamed, blackHole].map((s) => s && new Promise((r) => s.close(r))),
  );
  rmSync(certDir, { recursive: true, force: true });
});

// ---- helpers ----

async function whoami(server, token, nsp = "/") {
  const s = await connected(sio(server, { auth: { token } }, nsp));
  try {
    return await s.timeout(5000).emitWithAck("whoami");
  } finally {
    s.close();
  }
}

async function connectError(server, token) {
  const s = sio(server, { auth: { token } });
  try {
    const [err] = await once(s, "connect_error", 8000);
    return err.message;
  } finally {
    s.close();
  }
}

// ---- tests ----

test("the start line names the https url and the CA file", () => {
  assert.match(
    byIp.log(),
    new RegExp(
      `\\[auth-http\\] asking https://127\\.0\\.0\\.1:${goodPort}/check \\(timeout ${TIMEOUT} ms, ` +
        `the server waits 4000 ms, cache 0 s, certificates checked against ${file("trusted.pem").replace(/[.]/g, "\\.")}\\)`,
    ),
  );
});

test("https by IP address: accepted with the service's user and claims, refused with its message", async () => {
  assert.deepEqual(await whoami(byIp, tok("good-alice")), {
    user: "alice",
    claims: { via: "https", nsp: "/" },
  });
  assert.deepEqual(await whoami(byIp, tok("good-alice"), "/admin"), {
    user: "alice",
    claims: { via: "https", nsp: "/admin" },
    nsp: "/admin",
  });
  assert.equal(await connectError(byIp, tok("deny-bob")), "account suspended");
  assert.equal(callsFor("good-alice"), 2);
  assert.equal(callsFor("deny-bob"), 1);
});

test("https by host name: localhost is resolved and matches the certificate", async () => {
  assert.deepEqual(await whoami(byName, tok("good-carol")), {
    user: "carol",
    claims: { via: "https", nsp: "/" },
  });
  assert.equal(await connectError(byName, tok("deny-dan")), "account suspended");
  assert.match(byName.log(), new RegExp(`asking https://localhost:${goodPort}/check `));
});

test("a certificate not signed by the given CA: refused, with a warning, and no request reaches the service", async () => {
  assert.equal(await connectError(untrusted, tok("good-erin")), "authentication service unavailable");
  await untrusted.waitForLog(
    new RegExp(
      `warn  \\[auth-http\\] https://127\\.0\\.0\\.1:${roguePort}/check: the service's certificate is not trusted \\(SSL certificate problem: [^)]+\\); refusing the token`,
    ),
  );
  assert.equal(callsFor("good-erin"), 0, "the token never crossed the untrusted connection");
});

test("a certificate for another host name: refused, with a warning naming the mismatch", async () => {
  assert.equal(await connectError(wrongName, tok("good-frank")), "authentication service unavailable");
  await wrongName.waitForLog(
    /\[auth-http\] https:\/\/127\.0\.0\.1:\d+\/check: the service's certificate is not trusted \([^)]*(does not match|no alternative certificate subject name matches)[^)]*\); refusing the token/,
  );
  assert.equal(callsFor("good-frank"), 0);
});

test("a redirect is refused, not followed, with a warning naming where it pointed", async () => {
  const token = tok("moved-gina");
  assert.equal(await connectError(byIp, token), "authentication service unavailable");
  await byIp.waitForLog(
    new RegExp(
      `warn  \\[auth-http\\] https://127\\.0\\.0\\.1:${goodPort}/check: the service answered a redirect, which is refused \\(give the final address as url=\\) \\(HTTP 302, to https://localhost:${goodPort}\\); refusing the token`,
    ),
  );
  assert.equal(callsFor(token), 1);
  assert.equal(
    requests.filter((r) => r.path !== "/check").length,
    0,
    "the Location was never requested",
  );
});

test("the timeout: a service that never answers, and one that never finishes the TLS handshake", async () => {
  let t0 = Date.now();
  assert.equal(await connectError(byIp, tok("never-hank")), "authentication service unavailable");
  let waited = Date.now() - t0;
  assert.ok(waited >= TIMEOUT - 50 && waited < 2500, `refused after ${waited} ms`);
  await byIp.waitForLog(new RegExp(`no answer within ${TIMEOUT} ms; refusing the token`));
  assert.equal(callsFor("never-hank"), 1);

  t0 = Date.now();
  assert.equal(await connectError(hanging, tok("good-ivy")), "authentication service unavailable");
  waited = Date.now() - t0;
  assert.ok(waited >= TIMEOUT - 50 && waited < 2500, `refused after ${waited} ms`);
  await hanging.waitForLog(new RegExp(`no answer within ${TIMEOUT} ms; refusing the token`));
});

test("a graceful shutdown with a question in flight ends cleanly once the question times out", async () => {
  const server = await startServer({
    scripts: DIR,
    plugins: [`auth-http=url=https://127.0.0.1:${goodPort}/check,ca=${file("trusted.pem")},timeout=${TIMEOUT}`],
  });
  const token = tok("never-jack");
  const s = sio(server, { auth: { token } });
  const end = Date.now() + 5000;
  while (callsFor(token) === 0 && Date.now() < end) await sleep(20);
  assert.equal(callsFor(token), 1, "the question reached the service");
  const t0 = Date.now();
  const { code, signal } = await server.stop();
  s.close();
  assert.equal(signal, null);
  assert.equal(code, 0, server.log());
  assert.ok(Date.now() - t0 < 5000, `stopped after ${Date.now() - t0} ms`);
  assert.match(server.log(), /no answer within 400 ms; refusing the token/);
});

async function refusedAtStart(config, re) {
  const args = ["--listen", `127.0.0.1:${await freePort()}`, "--scripts", DIR];
  const r = await runBinary([...args, "--plugin", `auth-http=${config}`]);
  assert.equal(r.signal, null, `the server started anyway:\n${r.stderr}`);
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, /init failed/);
  assert.match(r.stderr, re);
}

test("CONFIG refused at start: an unreadable ca=, ca= on http://, a scheme other than http(s), a bad key", async () => {
  const url = `https://127.0.0.1:${goodPort}/check`;
  await refusedAtStart(`url=${url},ca=${file("missing.pem")}`, /ca: cannot read .*missing\.pem: No such file or directory/);
  await refusedAtStart(
    `url=http://127.0.0.1:${goodPort}/check,ca=${file("trusted.pem")}`,
    /ca= is for an https:\/\/ url/,
  );
  await refusedAtStart("url=ftp://127.0.0.1/check", /url: the url must start with http:\/\/ or https:\/\//);
  await refusedAtStart(`url=${url},cafile=x`, /auth-http: unknown key "cafile"/);
  await refusedAtStart(`url=${url},timeout=0`, /auth-http: "timeout" wants a duration from 1 to 600000 ms/);
});

test("no token ever appears in a server log (debug level), not even one a redirect carried", () => {
  assert.ok(usedTokens.size >= 10);
  for (const server of servers()) {
    const log = server.log();
    assert.ok(log.includes("debug"), "the server logged at debug level");
    for (const token of usedTokens)
      assert.equal(log.includes(token), false, `a server log contains the token ${token}`);
  }
});
