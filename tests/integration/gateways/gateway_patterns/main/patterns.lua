-- Fixture of gateway_patterns.test.mjs: handlers that run a client's pattern on a client's
-- text, through each pattern function. ("a"):rep(400) with ".-.-.-b" backtracks for seconds
-- in LuaJIT's own string.find.
return {
  namespace = "/patterns",
  events = {
    find = function(socket, s, p) return (string.find(s, p)) end,
    method = function(socket, s, p) return (s:find(p)) end,
    match = function(socket, s, p) return (s:match(p)) end,
    gmatch = function(socket, s, p)
      local n = 0
      for _ in s:gmatch(p) do n = n + 1 end
      return n
    end,
    gsub = function(socket, s, p)
      return (s:gsub(p, function(m) return m end))
    end,
    -- pcall catches the error, but the run is stopped all the same.
    pcall = function(socket, s, p)
      local ok, err = pcall(string.find, s, p)
      return { ok = ok, err = tostring(err) }
    end,
    -- What well-behaved patterns give (LuaJIT's answers).
    answers = function(socket)
      local words = {}
      for w in ("one two  three"):gmatch("%a+") do words[#words + 1] = w end
      local k, v = ("key = value"):match("^(%w+)%s*=%s*(%w+)$")
      local swapped, n = ("hello world"):gsub("(%w+) (%w+)", "%2 %1")
      local i, j, cap = string.find("f(a(b)c)d", "(%b())")
      local ok, err = pcall(string.find, "x", "[a")
      return {
        words = words, k = k, v = v, swapped = swapped, n = n, i = i, j = j, cap = cap,
        plain = { ("a.b"):find(".", 1, true) },
        frontier = ("THE (quick) fox"):gsub("%f[%a]%a+", string.lower),
        positions = { ("abc"):match("()b()") },
        err = err,
      }
    end,
  },
}
