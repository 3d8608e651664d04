// The Node side of bench/compare: a socket.io 4 server doing the same work as switchboard with
// bench/gateways/ and the auth-static plugin, so that both are measured on the same scenarios.
//
//   node server.mjs --port P [--host 127.0.0.1] [--tokens FILE] [--redis redis://127.0.0.1:6379]
//
// - auth: the CONNECT auth object's `token` is looked up in FILE (`token user-id` lines, the
//   auth-static format); an unknown token is refused ("not authorized"), no token is anonymous.
//   An authenticated socket joins the rooms `user:<id>` and `authenticated`, as in switchboard.
// - `events` → `events` 1, 2, 3 to the socket and to the user's other sockets (what
//   scripts/events.lua does with the `propagate` interceptor).
// - `blast` (payload) → `b` (payload) to every other socket (switchboard: socket:broadcast()).
// - `to_user` (payload) → `u` (payload) to the user's other sockets, on every instance (switchboard:
//   sb.to_user(id):except(socket.id)).
// - `echo` (payload, ack) → the ack with the payload.
// With --redis, @socket.io/redis-adapter (classic pub/sub) joins the instances. Prints one line
// `ready <port>` on stdout once listening; SIGTERM/SIGINT stop it.
import fs from "node:fs";
import http from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";

const { values: opt } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    host: { type: "string", default: "127.0.0.1" },
    tokens: { type: "string" },
    redis: { type: "string" },
  },
});

const tokens = new Map();
if (opt.tokens) {
  for (const line of fs.readFileSync(opt.tokens, "utf8").split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const [token, user] = t.split(/\s+/);
    if (token && user) tokens.set(token, user);
  }
}

const httpServer = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok");
    return;
  }
  res.writeHead(404);
  res.end();
});

// Both transports, as socket.io's default: the polling scenarios long-poll, the others connect
// with transport=websocket directly (no polling first), so they measure WebSocket only.
const options = {
  transports: ["polling", "websocket"],
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
  serveClient: false,
};
let pub, sub;
if (opt.redis) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  pub = createClient({ url: opt.redis });
  sub = pub.duplicate();
  pub.on("error", (e) => console.error("redis pub:", e.message));
  sub.on("error", (e) => console.error("redis sub:", e.message));
  await Promise.all([pub.connect(), sub.connect()]);
  options.adapter = createAdapter(pub, sub);
}
const io = new Server(httpServer, options);

io.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (token === undefined || token === null || token === "") return next();
  const user = tokens.get(String(token));
  if (!user) return next(new Error("not authorized"));
  socket.data.user = user;
  next();
});

io.on("connection", (socket) => {
  const user = socket.data.user;
  if (user) socket.join([`user:${user}`, "authenticated"]);
  socket.on("events", () => {
    for (const n of [1, 2, 3]) {
      socket.emit("events", n);
      if (user) socket.to(`user:${user}`).emit("events", n);
    }
  });
  socket.on("blast", (payload) => {
    socket.broadcast.emit("b", payload);
  });
  socket.on("to_user", (payload) => {
    if (user) socket.to(`user:${user}`).emit("u", payload);
  });
  socket.on("echo", (payload, ack) => {
    if (typeof ack === "function") ack(payload);
  });
});

httpServer.listen(Number(opt.port), opt.host, () => {
  process.stdout.write(`ready ${httpServer.address().port}\n`);
});

function stop() {
  io.close();
  httpServer.close();
  Promise.allSettled([pub?.quit(), sub?.quit()]).finally(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
