// A real Node socket.io 4 server with the real @socket.io/redis-adapter (classic pub/sub), the
// peer of the mixed-cluster tests. Started by redis.mjs's startNodePeer() with one JSON argument
// {redisUrl, key, requestsTimeout, publishOnSpecificResponseChannel, namespaces}. It listens on
// a free loopback port and is driven over stdin/stdout with one JSON object per line:
//   → {"id": 1, "cmd": "fetchSockets", "nsp": "/", "in": ["user:alice"]}
//   ← {"type": "reply", "id": 1, "result": …} or {"type": "reply", "id": 1, "error": "…"}
//   ← {"type": "ready", "port": P, "uid": …} once, at start
//   ← {"type": "sse", "nsp": "/", "event": …, "args": […]} for every server-side event it
//     listens to (command "on").
// Arguments of emit and serverSideEmit may hold "$date:<ms>" (sent as a Date) and
// "$buffer:<hex>" (a Buffer). Clients that connect with auth {user: "u"} join the rooms "user:u" and "authenticated", as
// switchboard's authenticated sockets do; the client event "join" (rooms) joins rooms and acks
// the socket's rooms.
import http from "node:http";
import readline from "node:readline";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const cfg = JSON.parse(process.argv[2] || "{}");

const pub = createClient({ url: cfg.redisUrl });
const sub = pub.duplicate();
pub.on("error", (e) => console.error("pub error", e.message));
sub.on("error", (e) => console.error("sub error", e.message));
await Promise.all([pub.connect(), sub.connect()]);

const httpServer = http.createServer();
const io = new Server(httpServer, {
  adapter: createAdapter(pub, sub, {
    key: cfg.key || "socket.io",
    requestsTimeout: cfg.requestsTimeout || 5000,
    publishOnSpecificResponseChannel: !!cfg.publishOnSpecificResponseChannel,
  }),
  transports: ["websocket"],
});

function setup(nsp) {
  nsp.on("connection", (socket) => {
    const user = socket.handshake.auth?.user;
    socket.data.user = user ?? null;
    if (user) socket.join([`user:${user}`, "authenticated"]);
    socket.on("join", (rooms, ack) => {
      socket.join(rooms);
      if (typeof ack === "function") ack([...socket.rooms]);
    });
  });
}
setup(io.of("/"));
for (const n of cfg.namespaces || []) setup(io.of(n));

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// io.of(nsp).in(rooms).except(except)
function target(c) {
  let op = io.of(c.nsp || "/");
  if (c.in && [c.in].flat().length) op = op.in(c.in);
  if (c.except && [c.except].flat().length) op = op.except(c.except);
  return op;
}

const listening = new Set();

// JSON cannot carry every type Node's msgpack writes: "$date:<ms>" becomes a Date (a msgpack
// timestamp extension), "$buffer:<hex>" a Buffer (msgpack bin).
function revive(v) {
  if (typeof v === "string" && v.startsWith("$date:")) return new Date(Number(v.slice(6)));
  if (typeof v === "string" && v.startsWith("$buffer:")) return Buffer.from(v.slice(8), "hex");
  if (Array.isArray(v)) return v.map(revive);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
  return v;
}

const commands = {
  async emit(c) {
    target(c).emit(c.event, ...revive(c.args || []));
    return true;
  },
  async fetchSockets(c) {
    const t0 = Date.now();
    const sockets = await target(c).fetchSockets();
    return {
      ms: Date.now() - t0,
      sockets: sockets.map((s) => ({
        id: s.id,
        rooms: [...s.rooms],
        data: s.data ?? null,
        handshake: s.handshake ?? null,
        local: !!io.of(c.nsp || "/").sockets.get(s.id),
      })),
    };
  },
  async allRooms(c) {
    const t0 = Date.now();
    const rooms = await io.of(c.nsp || "/").adapter.allRooms();
    return { ms: Date.now() - t0, rooms: [...rooms] };
  },
  async serverCount(c) {
    return io.of(c.nsp || "/").adapter.serverCount();
  },
  async socketsJoin(c) {
    target(c).socketsJoin(c.rooms);
    return true;
  },
  async socketsLeave(c) {
    target(c).socketsLeave(c.rooms);
    return true;
  },
  async disconnectSockets(c) {
    target(c).disconnectSockets(!!c.close);
    return true;
  },
  async serverSideEmit(c) {
    io.of(c.nsp || "/").serverSideEmit(c.event, ...revive(c.args || []));
    return true;
  },
  async serverSideEmitWithAck(c) {
    const t0 = Date.now();
    try {
      const responses = await io.of(c.nsp || "/").serverSideEmitWithAck(c.event, ...revive(c.args || []));
      return { ms: Date.now() - t0, responses };
    } catch (e) {
      return { ms: Date.now() - t0, error: e.message };
    }
  },
  // Listens to the server-side event `event` of namespace `nsp`: every call is reported as an
  // "sse" line; when the sender asked for an ack, it is answered with `reply`.
  async on(c) {
    const nsp = c.nsp || "/";
    const key = `${nsp}\0${c.event}`;
    if (listening.has(key)) return false;
    listening.add(key);
    io.of(nsp).on(c.event, (...args) => {
      const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
      out({ type: "sse", nsp, event: c.event, args, withAck: !!ack });
      if (ack) ack(c.reply === undefined ? null : c.reply);
    });
    return true;
  },
  // The peer's own sockets.
  async localSockets(c) {
    return [...io.of(c.nsp || "/").sockets.values()].map((s) => ({ id: s.id, rooms: [...s.rooms] }));
  },
};

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  let c;
  try {
    c = JSON.parse(line);
  } catch {
    return;
  }
  const fn = commands[c.cmd];
  if (!fn) return out({ type: "reply", id: c.id, error: `unknown command ${c.cmd}` });
  try {
    out({ type: "reply", id: c.id, result: await fn(c) });
  } catch (e) {
    out({ type: "reply", id: c.id, error: String(e?.message || e) });
  }
});

async function shutdown() {
  io.close();
  try {
    await Promise.race([Promise.all([pub.disconnect(), sub.disconnect()]), new Promise((r) => setTimeout(r, 1000))]);
  } catch {}
  process.exit(0);
}
process.on("SIGTERM", shutdown);
process.stdin.on("end", shutdown);

httpServer.listen(0, "127.0.0.1", () => {
  out({ type: "ready", port: httpServer.address().port, uid: io.of("/").adapter.uid });
});
