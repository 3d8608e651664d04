-- Fixture of gateway_redis.test.mjs: redis.call / redis.pcall from handlers, hooks, ack
-- callbacks and server events.
local function value(v)
  if v == nil then return sb.null end
  return v
end

return {
  namespace = "/",

  -- ?wait=<key>: the hook waits for Redis, then greets the socket (or refuses it with ?fail=1).
  on_connect = function(socket)
    local key = socket.query.wait
    if not key then return end
    local n = redis.call("INCR", key)
    if socket.query.fail then sb.throw("refused after waiting " .. n) end
    socket.data.n = n
    socket:emit("connected_after_wait", n)
  end,

  -- ?track=<key>: the hook records the socket's id and the reason in Redis, after waiting.
  on_disconnect = function(socket, reason)
    local key = socket.query.track
    if not key then return end
    redis.call("PING")
    redis.call("RPUSH", key, socket.id, reason, tostring(socket.connected))
  end,

  events = {
    ping = function(socket, n) return n end,
    data_n = function(socket) return value(socket.data.n) end,

    -- The reply of any command, with its Lua type.
    call = function(socket, ...)
      local v = redis.call(...)
      return { type = type(v), value = value(v), n = type(v) == "table" and #v or sb.null }
    end,
    -- Errors as values.
    pcall = function(socket, ...)
      local v, err = redis.pcall(...)
      return { value = value(v), err = value(err) }
    end,
    -- redis.call's error, caught.
    catch = function(socket, ...)
      local ok, err = pcall(redis.call, ...)
      return { ok = ok, err = ok and sb.null or tostring(err) }
    end,
    -- The reply as the ack; an error fails the handler.
    raw = function(socket, ...)
      return redis.call(...)
    end,
    incr = function(socket, key)
      return redis.call("INCR", key)
    end,
    -- Waits, then returns nothing (an ack with no argument) or nil (an ack with null).
    incr_nothing = function(socket, key)
      redis.call("INCR", key)
    end,
    incr_nil = function(socket, key)
      redis.call("INCR", key)
      return nil
    end,
    -- Several waits in a row in one handler.
    incr_n = function(socket, key, n)
      local out = {}
      for i = 1, n do out[i] = redis.call("INCR", key) end
      return out
    end,
    -- Waits `n` times: little CPU, much waiting.
    waits = function(socket, n)
      for i = 1, n do redis.call("PING") end
      return n
    end,
    -- Waits, then writes down what it sees of its socket (which may be gone by then).
    linger = function(socket, key)
      local v = redis.call("INCR", key)
      redis.call("SET", key .. ":connected", tostring(socket.connected))
      redis.call("SET", key .. ":emit", tostring(socket:emit("late", v)))
      return v
    end,
    -- Asks the client a question; the ack callback waits for Redis before answering.
    question = function(socket, key)
      socket:emit("question", key, function(err, answer)
        local total = redis.call("INCRBY", key, answer)
        socket:emit("answered", total)
      end)
      return true
    end,
    -- A server-side emit to the other servers; the callback waits for Redis too.
    ask = function(socket, key)
      sb.server_emit("count", key, function(err, answers)
        local calls = redis.call("INCR", key .. ":callbacks")
        socket:emit("answers", value(err), answers, calls)
      end)
      return true
    end,
  },

  server_events = {
    -- Waits for Redis before answering.
    count = function(key)
      return redis.call("INCR", key)
    end,
  },
}
