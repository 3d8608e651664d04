-- Fixture of gateway_limits.test.mjs: what a gateway sees of the standard library, in the
-- sandbox and with --lua-trusted.
return {
  namespace = "/",

  events = {
    globals = function(socket)
      return {
        io = type(io), load = type(load), loadstring = type(loadstring),
        loadfile = type(loadfile), dofile = type(dofile), debug = type(debug),
        package = type(package), jit = type(jit), getfenv = type(getfenv),
        setfenv = type(setfenv), collectgarbage = type(collectgarbage), os = type(os),
        string = type(string), table = type(table), math = type(math),
        coroutine = type(coroutine), bit = type(bit), pcall = type(pcall),
        require = type(require), sb = type(sb), redis = type(redis), print = type(print),
      }
    end,
    os_fields = function(socket)
      local out = {}
      for _, n in ipairs({ "time", "clock", "date", "difftime", "exit", "execute", "getenv",
                           "remove", "rename", "tmpname" }) do
        out[n] = type(os[n])
      end
      return out
    end,
    -- With --lua-trusted: reads the environment and writes a file.
    trusted_io = function(socket, path)
      local f = assert(io.open(path, "w"))
      f:write("written by a gateway")
      f:close()
      return os.getenv("SB_TRUSTED_PROBE")
    end,
    spin = function(socket) while true do end end,
    ping = function(socket) return "pong" end,
  },
}
