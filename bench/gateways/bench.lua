-- The benchmark gateway (bench/compare serves it beside scripts/events.lua). Every handler is
-- the plainest way to do its work in a gateway, so that a run measures the server's fan-out and
-- bus paths, not Lua; bench/peers/server.mjs does the same work in Node.
return {
  namespace = "/",

  events = {
    -- fanout: a broadcaster client sends `blast` at the target rate; everyone else gets `b` with
    -- the same payload (it carries the send time, the step and a sequence number).
    blast = function(socket, payload)
      socket:broadcast():emit("b", payload)
    end,

    -- user: send-to-user-except-origin, across instances with --redis.
    to_user = function(socket, payload)
      if socket.user then
        sb.to_user(socket.user):except(socket.id):emit("u", payload)
      end
    end,

    -- rpc with an ack (the `events` gateway answers with events instead).
    echo = function(socket, payload)
      return payload
    end,
  },
}
