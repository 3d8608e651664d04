-- Fixture of acks.test.mjs: acks both ways.
return {
  namespace = "/",

  events = {
    -- one return value -> the ack
    echo = function(socket, data)
      return data
    end,

    -- several return values -> several ack arguments
    multi = function(socket)
      return 1, "two", { three = 3 }, sb.null
    end,

    -- {event, data} -> that event to the caller, no ack
    reply = function(socket, data)
      return { event = "replied", data = data }
    end,

    -- nothing -> an ack with no argument (socket.io's callback())
    nothing = function(socket)
    end,

    -- nil -> an ack with one null argument (callback(null))
    null = function(socket)
      return nil
    end,

    -- the same after a bare `return`, and after emitting: the emit, then the empty ack
    bare_return = function(socket, x)
      socket:emit("before", x)
      do return end
    end,

    -- an error: the exception event, and no ack
    boom = function(socket)
      error("kaboom")
    end,

    -- server -> client ack: the client's answer comes back as `answer`
    ask = function(socket, x)
      socket:emit("question", x, function(err, a, b)
        socket:emit("answer", { err = err or sb.null, a = a or sb.null, b = b or sb.null })
      end)
      return "asked"
    end,

    -- the same with a timeout
    ask_timeout = function(socket, ms)
      socket:timeout(ms):emit("question", "will you answer?", function(err, a)
        socket:emit("answer", { err = err or sb.null, a = a or sb.null })
      end)
      return "asked"
    end,

    -- emits by hand, a broadcast, then an ack
    emit_then_ack = function(socket)
      socket:emit("first", 1)
      socket:emit("second", 2)
      sb.to(socket.id):emit("third", 3)
      return "ack"
    end,
  },
}
