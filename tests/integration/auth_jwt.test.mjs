// auth-jwt with public keys, end to end: a real server loads a JWKS file (an RSA and an EC key,
// generated here with node:crypto into a temporary directory; no private key is ever written)
// and PEM key files, socket.io-client connects with RS256, ES256 and EdDSA tokens signed here by
// crypto.sign (the JOSE layer by hand), the claims and the user reach Lua (gateway:
// tests/integration/gateways/auth_jwt/whoami.lua), each refusal reaches the client as a
// CONNECT_ERROR message, a user_claim other than sub works, a JWKS rotation is picked up
// without a restart, configurations that pair an HMAC algorithm with a public key are refused
// at start, and no token or key ever reaches the log.
import assert from "node:assert/strict";
import { createHmac, generateKeyPairSync, sign as cryptoSign } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
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

const SCRIPTS = path.join(GATEWAYS, "auth_jwt");
const ISS = "https://issuer.test";
const AUD = "switchboard";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "sb-auth-jwt-"));
const file = (name) => path.join(tmp, name);

const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsa2 = generateKeyPairSync("rsa", { modulusLength: 2048 });
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ed = generateKeyPairSync("ed25519");
const other = generateKeyPairSync("rsa", { modulusLength: 2048 }); // known to no server

const jwk = (pair, extra) => ({ ...pair.publicKey.export({ format: "jwk" }), ...extra });
const pem = (pair) => pair.publicKey.export({ type: "spki", format: "pem" });

function writeJwks(keys) {
  // Written beside and renamed over, as a deployment should: a reader never sees half a file.
  fs.writeFileSync(file("jwks.json.tmp"), JSON.stringify({ keys }));
  fs.renameSync(file("jwks.json.tmp"), file("jwks.json"));
}

// Everything a test sends or holds that must never appear in a log.
const secrets = new Set();

const b64url = (v) =>
  Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");

// A compact JWS signed with `key` (a node KeyObject pair) as `alg`, or MACed with `secret`.
function sign(payload, { alg, key, kid, secret, header, der = false }) {
  const hdr = header ?? { alg, typ: "JWT", ...(kid ? { kid } : {}) };
  const input = `${b64url(hdr)}.${b64url(payload)}`;
  const data = Buffer.from(input);
  let sig;
  if (alg === "none") sig = Buffer.alloc(0);
  else if (secret !== undefined)
    sig = createHmac(`sha${alg.slice(2)}`, secret).update(input).digest();
  else if (alg === "EdDSA") sig = cryptoSign(null, data, key.privateKey);
  else if (alg.startsWith("ES"))
    // JWS wants the raw r||s (IEEE P1363); DER only to check that it is refused.
    sig = cryptoSign(`sha${alg.slice(2)}`, data, {
      key: key.privateKey,
      dsaEncoding: der ? "der" : "ieee-p1363",
    });
  else sig = cryptoSign(`sha${alg.slice(2)}`, data, key.privateKey); // RS*: PKCS#1 v1.5
  const token = `${input}.${sig.toString("base64url")}`;
  secrets.add(token);
  return token;
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra = {}) => ({ sub: "alice", iss: ISS, aud: AUD, exp: now() + 600, ...extra });

let jwksServer; // jwks_file (RSA kid rsa-1, EC kid ec-1), iss and aud
let pemServer; // key files (Ed25519 kid ed, RSA without kid), user_claim=email

before(async () => {
  writeJwks([
    jwk(rsa, { kid: "rsa-1", use: "sig", alg: "RS256" }),
    jwk(ec, { kid: "ec-1", use: "sig" }),
  ]);
  fs.writeFileSync(file("ed.pem"), pem(ed));
  fs.writeFileSync(file("rsa.pem"), pem(rsa));
  for (const k of [rsa, ec, ed]) {
    const j = k.publicKey.export({ format: "jwk" });
    secrets.add(j.n ?? j.x);
  }
  // Debug logging: the most the server ever writes, so the log check is strongest.
  const args = ["--log-level", "debug"];
  [jwksServer, pemServer] = await Promise.all([
    startServer({
      scripts: SCRIPTS,
      args,
      plugins: [`auth-jwt=jwks_file=${file("jwks.json")},iss=${ISS},aud=${AUD},algs=RS256|ES256`],
    }),
    startServer({
      scripts: SCRIPTS,
      args,
      plugins: [
        `auth-jwt=key_file=ed:${file("ed.pem")},key_file=${file("rsa.pem")},user_claim=email`,
      ],
    }),
  ]);
});

after(async (t) => {
  for (const s of [jwksServer, pemServer]) if (s) await stopClean(t, s);
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function whoami(server, token) {
  const s = await connected(sio(server, { auth: { token } }));
  try {
    return await s.timeout(5000).emitWithAck("whoami");
  } finally {
    s.close();
  }
}

async function connectError(server, token) {
  const s = sio(server, { auth: { token } });
  try {
    const [err] = await once(s, "connect_error");
    return err.message;
  } finally {
    s.close();
  }
}

test("RS256 and ES256 tokens from a JWKS: accepted, user and claims reach Lua", async () => {
  const c = claims({ role: "admin", rooms: ["a", "b"] });
  assert.deepEqual(await whoami(jwksServer, sign(c, { alg: "RS256", key: rsa, kid: "rsa-1" })), {
    user: "alice",
    claims: c,
  });
  const c2 = claims({ sub: "bob", aud: ["other", AUD] });
  assert.deepEqual(await whoami(jwksServer, sign(c2, { alg: "ES256", key: ec, kid: "ec-1" })), {
    user: "bob",
    claims: c2,
  });
  // Without kid: the one key that allows the algorithm.
  assert.equal((await whoami(jwksServer, sign(claims(), { alg: "ES256", key: ec }))).user, "alice");
  // The query string works as for every auth plugin.
  const token = sign(claims({ sub: 42 }), { alg: "RS256", key: rsa, kid: "rsa-1" });
  const s = await connected(sio(jwksServer, { query: { token } }));
  assert.deepEqual((await s.timeout(5000).emitWithAck("whoami")).user, "42");
  s.close();
});

test("refusals reach the client as CONNECT_ERROR messages", async () => {
  const cases = [
    [sign(claims({ exp: now() - 120 }), { alg: "RS256", key: rsa, kid: "rsa-1" }), "token expired"],
    [sign(claims(), { alg: "RS256", key: rsa, kid: "nope" }), "unknown key id"],
    [sign(claims(), { alg: "RS256", key: other, kid: "rsa-1" }), "bad signature"],
    [sign(claims(), { alg: "RS256", key: other }), "bad signature"],
    // The key-confusion attack: HS256 MACed with the RSA public key the attacker knows.
    [sign(claims(), { alg: "HS256", secret: pem(rsa) }), "algorithm not allowed"],
    [sign(claims(), { alg: "HS256", secret: pem(rsa), kid: "rsa-1" }), "algorithm not allowed"],
    [sign(claims(), { alg: "none" }), "algorithm not allowed"],
    // The RSA key is pinned to RS256 by its JWK "alg"; the EC key can only do ES256.
    [sign(claims(), { alg: "RS512", key: rsa, kid: "rsa-1" }), "algorithm not allowed"],
    [sign(claims(), { alg: "RS256", key: rsa, kid: "ec-1" }), "algorithm not allowed"],
    [sign(claims(), { alg: "ES256", key: ec, der: true }), "bad signature"],
    [sign(claims({ iss: "https://evil.test" }), { alg: "ES256", key: ec }), "issuer not accepted"],
    [sign(claims({ aud: undefined }), { alg: "ES256", key: ec }), "missing aud claim"],
    [sign(claims({ aud: ["x", "y"] }), { alg: "ES256", key: ec }), "audience not accepted"],
    [sign(claims({ sub: undefined }), { alg: "ES256", key: ec }), "missing sub claim"],
  ];
  for (const [token, message] of cases)
    assert.equal(await connectError(jwksServer, token), message, message);
});

test("user_claim=email with PEM key files: EdDSA by kid, RS256 without", async () => {
  const c = { sub: "123", email: "carol@example.test", exp: now() + 60 };
  assert.deepEqual(await whoami(pemServer, sign(c, { alg: "EdDSA", key: ed, kid: "ed" })), {
    user: "carol@example.test",
    claims: c,
  });
  assert.equal(
    (await whoami(pemServer, sign({ email: "dave@example.test" }, { alg: "RS384", key: rsa })))
      .user,
    "dave@example.test",
  );
  assert.equal(
    await connectError(pemServer, sign({ sub: "123" }, { alg: "EdDSA", key: ed, kid: "ed" })),
    "missing email claim",
  );
  // Nothing configured checks iss or aud here; the RSA key has no kid, so another kid falls
  // back to it, but the Ed25519 key's kid does not fit RS256.
  assert.equal(
    await connectError(pemServer, sign({ email: "x" }, { alg: "RS256", key: rsa, kid: "ed" })),
    "algorithm not allowed",
  );
  assert.equal(
    (await whoami(pemServer, sign({ email: "e" }, { alg: "RS256", key: rsa, kid: "k9" }))).user,
    "e",
  );
});

test("a JWKS rotation is picked up without a restart", async () => {
  const oldToken = () => sign(claims(), { alg: "RS256", key: rsa, kid: "rsa-1" });
  const newToken = () =>
    sign(claims({ sub: "rotated" }), { alg: "RS256", key: rsa2, kid: "rsa-2" });
  assert.equal(await connectError(jwksServer, newToken()), "unknown key id");

  writeJwks([jwk(rsa2, { kid: "rsa-2", use: "sig", alg: "RS256" }), jwk(ec, { kid: "ec-1" })]);
  // The file is looked at, at most once a second, on an authentication.
  const end = Date.now() + 10000;
  let user = null;
  while (!user && Date.now() < end) {
    try {
      user = (await whoami(jwksServer, newToken())).user;
    } catch {
      await sleep(200);
    }
  }
  assert.equal(user, "rotated");
  assert.equal(await connectError(jwksServer, oldToken()), "unknown key id");
  await jwksServer.waitForLog(/jwks_file reloaded: 2 key\(s\), algorithms RS256\|ES256/);

  // A broken file keeps the keys that work, and says why. The check runs on an
  // authentication: make some until it happened.
  fs.writeFileSync(file("jwks.json"), '{"keys":[{"kty":"RSA"');
  for (let i = 0; i < 30 && !/not reloaded/.test(jwksServer.log()); i++) {
    assert.equal((await whoami(jwksServer, newToken())).user, "rotated");
    await sleep(200);
  }
  assert.match(jwksServer.log(), /not reloaded: the JWKS is not valid JSON .*keeping the 2 keys/);
  assert.equal((await whoami(jwksServer, newToken())).user, "rotated");
});

test("SIGHUP makes auth-jwt read its JWKS at once (the plugins' reload hook)", async () => {
  const oldToken = () => sign(claims(), { alg: "RS256", key: rsa, kid: "rsa-1" });
  writeJwks([jwk(rsa, { kid: "rsa-1", use: "sig", alg: "RS256" })]);
  process.kill(jwksServer.proc.pid, "SIGHUP");
  // No authentication happens meanwhile: only the reload hook can have read the file.
  await jwksServer.waitForLog(/reloading auth-jwt[\s\S]*jwks_file reloaded: 1 key\(s\)/);
  assert.equal((await whoami(jwksServer, oldToken())).user, "alice");
});

async function refusedAtStart(config, re) {
  const args = ["--listen", `127.0.0.1:${await freePort()}`, "--scripts", SCRIPTS];
  const r = await runBinary([...args, "--plugin", `auth-jwt=${config}`]);
  assert.equal(r.signal, null, `the server started anyway:\n${r.stderr}`);
  assert.notEqual(r.code, 0, r.stderr);
  assert.match(r.stderr, re);
  return r.stderr;
}

test("configurations pairing HMAC with a public key are refused at start", async () => {
  await refusedAtStart(
    `key_file=${file("rsa.pem")},algs=HS256`,
    /an RSA key cannot be used with HS256/,
  );
  await refusedAtStart(`jwks_file=${file("start.json")}`, /start\.json: cannot open it/);
  fs.writeFileSync(
    file("start.json"),
    JSON.stringify({ keys: [jwk(rsa, { kid: "r", alg: "HS256" })] }),
  );
  await refusedAtStart(
    `jwks_file=${file("start.json")}`,
    /its alg HS256 cannot be used with an RSA key/,
  );
  fs.writeFileSync(file("start.json"), JSON.stringify({ keys: [jwk(rsa, { kid: "r" })] }));
  await refusedAtStart(
    `jwks_file=${file("start.json")},algs=RS256|HS256`,
    /algs= lists HS256, but no configured key can verify it/,
  );
  const hmacKey = Buffer.from("a-secret-for-hs256-of-32-bytes-or-more").toString("base64url");
  secrets.add(hmacKey);
  fs.writeFileSync(
    file("start.json"),
    JSON.stringify({ keys: [{ kty: "oct", kid: "h", k: hmacKey }] }),
  );
  const stderr = await refusedAtStart(`jwks_file=${file("start.json")}`, /jwks_hmac=true/);
  assert.ok(!stderr.includes(hmacKey));
  // A private key where a public one belongs.
  fs.writeFileSync(file("private.pem"), rsa.privateKey.export({ type: "pkcs8", format: "pem" }));
  const s2 = await refusedAtStart(`key_file=${file("private.pem")}`, /holds a private key/);
  assert.ok(!s2.includes("MII"));
  fs.rmSync(file("private.pem"));
});

test("no token and no key material in the logs", () => {
  for (const s of [jwksServer, pemServer]) {
    const log = s.log();
    assert.match(log, /JWT refused|JWT keys loaded/);
    for (const x of secrets) assert.ok(!log.includes(x), "a secret reached the log");
  }
});
