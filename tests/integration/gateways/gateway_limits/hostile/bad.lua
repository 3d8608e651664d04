-- Fixture of gateway_limits.test.mjs: handlers a careless or hostile gateway author could
-- write. Each must end with an error for its own client while good.lua keeps serving.
local function throwing_index()
  return setmetatable({}, { __index = function() error("x") end })
end
local function looping_index()
  return setmetatable({}, { __index = function() while true do end end })
end

return {
  namespace = "/bad",

  events = {
    -- C stack exhaustion through coroutines resumed from Lua.
    co_recursion = function(socket)
      local function f() coroutine.wrap(f)() end
      f()
    end,
    -- ... and through the callback of a C function.
    gsub_recursion = function(socket)
      local function f(s) return (string.gsub(s, ".", f)) end
      return f("ab")
    end,
    -- A recursion through C functions only, no Lua instruction in between: sb.log turns
    -- its arguments into text with tostring, which calls __tostring, which is sb.log.
    log_recursion = function(socket)
      sb.log.error(setmetatable({}, { __tostring = sb.log.error }))
    end,
    -- __tostring = tostring loops inside LuaJIT without running an instruction.
    tostring_loop = function(socket)
      return tostring(setmetatable({}, { __tostring = tostring }))
    end,
    -- Results whose fields come from an __index that raises, or never returns.
    index_error = function(socket) return throwing_index() end,
    index_loop = function(socket) return looping_index() end,
    reply_index_error = function(socket)
      return { event = "r", data = throwing_index() }
    end,
    -- Tries to break every other gateway through what they share; returns what it managed.
    vandal = function(socket)
      local out = {}
      table.sort = function() error("table.sort broken by bad.lua") end
      table.concat = nil
      string.upper = function() return "broken" end
      string.format = nil
      math.floor = nil
      coroutine.wrap = nil
      os.time = nil
      sb.emit = nil
      sb.log.info = nil
      sb.json.encode = nil
      redis.call = nil
      out.string_mt = tostring(getmetatable(""))
      out.set_string_index = pcall(function() getmetatable("").__index = {} end)
      out.op_mt = tostring(getmetatable(sb.to("x")))
      out.array_mt = tostring(getmetatable(sb.array {}))
      out.require_sb_emit = type(require("switchboard").emit)
      return out
    end,
    -- What this gateway itself sees afterwards.
    after_vandal = function(socket)
      return { sort = type(table.sort), upper = ("x"):upper(), emit = type(sb.emit) }
    end,
  },
}
