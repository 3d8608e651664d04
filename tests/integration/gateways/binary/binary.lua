-- Fixture of binary.test.mjs: binary arguments both ways (sb.binary).
local function describe(v)
  if sb.is_binary(v) then
    return { kind = "binary", len = #v }
  end
  return { kind = type(v) }
end

return {
  namespace = "/",

  events = {
    -- what the handler sees of each argument, and the first one back as the ack
    inspect = function(socket, a, b)
      return describe(a), describe(b)
    end,

    -- the ack carries the binary values back, nested (BINARY_ACK)
    echo = function(socket, ...)
      return ...
    end,

    -- the same bytes as an event to the caller, inside a table
    reply = function(socket, bin)
      socket:emit("bytes", { payload = bin, n = #bin }, bin)
      return true
    end,

    -- a broadcast to every socket (and the Redis bus)
    broadcast = function(socket, bin)
      return sb.emit("all", bin, "text")
    end,

    -- a binary made here from a string, and the bytes as text
    make = function(socket, s)
      local b = sb.binary(s)
      return b, tostring(b) == s, sb.is_binary(s)
    end,

    -- too many binary values for one message
    eleven = function(socket)
      local t = {}
      for i = 1, 11 do
        t[i] = sb.binary(string.char(i))
      end
      socket:emit("eleven", t)
      return true
    end,

    -- the server asks for an ack, and the client answers with binary
    ask = function(socket)
      socket:emit("question", function(err, answer)
        socket:emit("answer", describe(answer), answer)
      end)
      return true
    end,

    -- binary in a place that takes JSON only
    json_encode = function(socket, bin)
      return sb.json.encode({ bin })
    end,
  },
}
