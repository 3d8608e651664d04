-- Fixture of errors.test.mjs: the ways a handler fails.
local function deep(x)
  return x.missing.field -- line 3: indexing a nil value
end

return {
  namespace = "/",

  events = {
    boom = function(socket, data)
      local v = deep({}) -- line 11: not a tail call, so the traceback keeps this frame
      return v
    end,
    raise = function(socket)
      error("kaboom")
    end,
    nope = function(socket)
      sb.throw("nope")
    end,
    object = function(socket)
      error(sb.exception({ code = 1, detail = "structured" }))
    end,
    unsendable = function(socket)
      return { f = function() end }
    end,
    echo = function(socket, data)
      return data
    end,
  },
}
