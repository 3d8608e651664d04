-- The cases of tests/unit/test_pattern.c: LuaJIT's own string.find, match, gmatch and gsub
-- (ORIG) and server/lua/pattern.c's (MINE) get the same arguments, through the same call
-- sites (so that error messages carry the same position and function name), and must give
-- the same results, or the same error message. Returns a table of case groups; each returns
-- how many calls it compared and the first mismatches it saw.
local ORIG, MINE = ...

local SEP = {} -- separates the results of gmatch's iterations
local NAMES = { "find", "match", "gmatch", "gsub" }

local function pack(...)
  return { n = select("#", ...), ... }
end

local function show(v)
  if v == SEP then
    return "|"
  elseif type(v) == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end

local function show_all(p, from)
  local out = {}
  for i = from or 1, p.n do
    out[#out + 1] = show(p[i])
  end
  return table.concat(out, ", ")
end

local function same(a, b)
  if a.n ~= b.n then
    return false
  end
  for i = 1, a.n do
    local x, y = a[i], b[i]
    if x ~= y and not (x ~= x and y ~= y) and not (type(x) == "table" and type(y) == "table") then
      return false
    end
  end
  return true
end

-- The calls, each at one call site used for both tables. gmatch runs its iterator to the end
-- (at most 100 times) and flattens the results.
local function drain(it)
  local out = { n = 0 }
  for _ = 1, 100 do
    local r = pack(it())
    for i = 1, r.n do
      out.n = out.n + 1
      out[out.n] = r[i]
    end
    out.n = out.n + 1
    out[out.n] = SEP
    if r[1] == nil then
      break
    end
  end
  return unpack(out, 1, out.n)
end

local field = {
  find = function(S, ...) return S.find(...) end,
  match = function(S, ...) return S.match(...) end,
  gmatch = function(S, ...) return drain(S.gmatch(...)) end,
  gsub = function(S, ...) return S.gsub(...) end,
}

-- Not tail calls: an error message then names this file and line.
local nontail = {
  find = function(S, ...) local r = pack(S.find(...)) return unpack(r, 1, r.n) end,
  match = function(S, ...) local r = pack(S.match(...)) return unpack(r, 1, r.n) end,
  gmatch = function(S, ...) local r = pack(drain(S.gmatch(...))) return unpack(r, 1, r.n) end,
  gsub = function(S, ...) local r = pack(S.gsub(...)) return unpack(r, 1, r.n) end,
}

-- s:find(...) through the string metatable, its __index set to ORIG or MINE for the call.
local smt = getmetatable("")
local function with_index(S, f, ...)
  local saved = smt.__index
  smt.__index = S
  local r = pack(pcall(f, ...))
  smt.__index = saved
  if not r[1] then
    error(r[2], 0)
  end
  return unpack(r, 2, r.n)
end
local method = {
  find = function(S, s, ...)
    return with_index(S, function(...) return s:find(...) end, ...)
  end,
  match = function(S, s, ...)
    return with_index(S, function(...) return s:match(...) end, ...)
  end,
  gmatch = function(S, s, ...)
    return with_index(S, function(...) return drain(s:gmatch(...)) end, ...)
  end,
  gsub = function(S, s, ...)
    return with_index(S, function(...) return s:gsub(...) end, ...)
  end,
}

-- Collects the outcome of calls; keeps the first few mismatches for the report.
local function new_run()
  local run = { calls = 0, bad = {} }
  function run.check(call, name, ...)
    run.calls = run.calls + 1
    local a = pack(pcall(call[name], ORIG, ...))
    local b = pack(pcall(call[name], MINE, ...))
    if not same(a, b) then
      if #run.bad < 10 then
        run.bad[#run.bad + 1] = string.format("%s(%s)\n  luajit:  %s\n  pattern: %s", name,
          show_all(pack(...)), show_all(a), show_all(b))
      end
      run.bad.total = (run.bad.total or 0) + 1
    end
    return a
  end
  -- Called by pcall itself, no Lua function in between.
  function run.check_direct(name, ...)
    run.calls = run.calls + 1
    local a = pack(pcall(ORIG[name], ...))
    local b = pack(pcall(MINE[name], ...))
    if name == "gmatch" and a[1] and b[1] then -- the first step of each iterator, by pcall too
      a, b = pack(pcall(a[2])), pack(pcall(b[2]))
    end
    if not same(a, b) then
      run.bad[#run.bad + 1] = string.format("pcall(%s, %s)\n  luajit:  %s\n  pattern: %s", name,
        show_all(pack(...)), show_all(a), show_all(b))
    end
  end
  function run.result()
    return run.calls, table.concat(run.bad, "\n")
  end
  return run
end

local all_bytes = {}
for i = 0, 255 do
  all_bytes[#all_bytes + 1] = string.char(i)
end
all_bytes = table.concat(all_bytes)

local SUBJECTS = {
  "", "a", "aaa", "aaab", "ab", "hello world", "  padded  ", "key=value; k2=v2",
  "(foo(bar))baz", "THE (quick) brown fox, 42 times!", "f(a,b)[c]{d}<e>", "\0a\0b\0",
  "\195\164\195\182 \255\128", "1234567890abcdefABCDEFxyzXYZ", "\t\n\v\f\r \127\1",
  "x = 1 + 2 - 3 * 4 / 5 % 6 ^ 7", "[[]]]", "%%d%", "$^$", "one two  three   four",
  "hello hello hello", "abcabcabc", "((()))())(", "THE END", all_bytes,
}

local PATTERNS = {
  -- literal text, plain-find candidates
  "", "a", "b", "ab", "hello", "o w", "\0", "\0b", "zzz", "abcabc",
  -- single classes and sets
  ".", "%a", "%c", "%d", "%g", "%l", "%p", "%s", "%u", "%w", "%x", "%z",
  "%A", "%C", "%D", "%G", "%L", "%P", "%S", "%U", "%W", "%X", "%Z",
  "%%", "%.", "%(", "%]", "%-", "%e", "%y", "%@", "%\255",
  "[abc]", "[^abc]", "[a-f]", "[^a-f]", "[%a_]", "[%d%s]", "[%]]", "[]]", "[^]]", "[-a]",
  "[a-]", "[%-]", "[a%-z]", "[z-a]", "[^%w%s]", "[\0-\31]", "[\128-\255]", "[%z]", "[.]",
  "[%^]", "[^^]", "[a-c-e]",
  -- repetitions
  "a*", "a+", "a-", "a?", ".*", ".+", ".-", ".?", "%a+", "%d*", "%s-", "[ab]+",
  "a*b", "a-b", "a+b", "a?b", ".-b", ".*b", "a*$", "%w+%s*=%s*%w+", "(%w+)=(%w+)",
  "x*x*x*x*", "a.-a", "a.*a", "o+", "l+o",
  -- anchors
  "^", "$", "^$", "^a", "a$", "^a*$", "^.-$", "^hello", "world$", "a$b", "$a", "^^", "^$$",
  "x^", "^%s*(.-)%s*$",
  -- captures
  "()", "(a)", "(a*)", "()a()", "(h)(e)(l)(l)(o)", "((a)(b))", "(.)%1", "(a)(b)%2%1",
  "(%w+) %1", "(.-)%1", "((.)%2)", "(()a)", "(a*(.)%w(%s*))", "%0", "(a)%0",
  "(.)(.)(.)(.)(.)(.)(.)(.)(.)(.)", "(a-)b", "(%d+)%.(%d+)",
  -- balance and frontier
  "%b()", "%b[]", "%b{}", "%b<>", "%bab", "%b((", "%b))", "(%b())", "%b()%b()", "f%b()",
  "%f[%w]%w+", "%f[%W]", "%f[%a]", "%f[^%z]", "%f[%z]", "%f[%s]%S", "%f[a-z]", "THE%f[%W]",
  -- errors
  "%", "a%", "[", "[a", "[^", "[%", "[a%]", "(", "(()", "a)", ")", "%1", "(a)%2", "%b",
  "%ba", "%f", "%fa", "%f[", "(a%1)", "((a)%1)", "[a-%%]",
}

local INITS = { 1, 2, -1, -3, 0, 100, -100, 1.5, -1.5, "2", " 3 ", "0x2", 2 ^ 31, -2 ^ 31 - 1,
  2 ^ 53, 1 / 0, -1 / 0, 0 / 0, 4294967297 }

local groups = {}

-- Every pattern on every subject, with every function.
function groups.fixed()
  local run = new_run()
  for _, s in ipairs(SUBJECTS) do
    for _, p in ipairs(PATTERNS) do
      run.check(field, "find", s, p)
      run.check(field, "match", s, p)
      run.check(field, "gmatch", s, p)
      run.check(field, "gsub", s, p, "<%0>")
    end
  end
  return run.result()
end

-- Where the match starts, and plain finds.
function groups.inits()
  local run = new_run()
  for _, s in ipairs({ "", "a", "hello world", "aaab", "abcabcabc" }) do
    for _, p in ipairs({ "", "a", "o", "l+", "^a", "^h", "b$", "()", "(a)", ".-", "c", "abc",
      "o w", "a.", "%" }) do
      for _, init in ipairs(INITS) do
        run.check(field, "find", s, p, init)
        run.check(field, "match", s, p, init)
        for _, plain in ipairs({ true, false, 1, 0, "" }) do
          run.check(field, "find", s, p, init, plain)
        end
      end
      run.check(field, "find", s, p, nil, true)
      run.check(field, "find", s, p, nil, nil)
    end
  end
  return run.result()
end

-- gsub's replacements: strings with %0-%9 and escapes, numbers, tables, functions; limits.
function groups.gsub()
  local run = new_run()
  local repls = {
    "", "x", "%0", "%1", "%2", "%3", "[%1|%2]", "%%", "%a", "%", "a%", "%%1", "%0%0", "%9",
    "\0%1\0", 42, 1.5, -0, { a = "A", ab = "AB", hello = false, world = 7, o = {} },
    { }, setmetatable({}, { __index = function(_, k) return "<" .. k .. ">" end }),
    function(...) return select("#", ...) .. ":" .. table.concat({ ... }, ",") end,
    function() return nil end,
    function() return false end,
    function() return 12 end,
    function() return {} end,
    function() return true end,
    function(a) return a .. a end,
    function(a) error("from the replacement " .. tostring(a)) end,
    true, nil, false,
  }
  local pats = { "", "a", "%w+", "(%w+)", "(%w)(%w)", "()", "(a)()", "^%s*", "%s*$", "o",
    "(h)(e)", ".", "x*", "(l)(l)", "^(.)", "%b()", "%f[%w]", "(", "%", "[a" }
  for _, s in ipairs({ "", "hello world", "a b c", "(x) (y)", "aaa", "\0a\0" }) do
    for _, p in ipairs(pats) do
      for i = 1, #repls + 3 do
        local r = repls[i]
        run.check(field, "gsub", s, p, r)
        for _, n in ipairs({ 0, 1, 2, -1, 1.9, "1", 2 ^ 40, 1 / 0, 0 / 0 }) do
          run.check(field, "gsub", s, p, r, n)
        end
      end
    end
  end
  run.check(field, "gsub", "abc", "%w", "%1", "x")
  run.check(field, "gsub", "abc", "%w", "%1", {})
  return run.result()
end

-- Arguments of the wrong type or missing, through field and method calls.
function groups.arguments()
  local run = new_run()
  local values = { nil, 12, 1.5, "s", true, {}, tostring, -0 }
  for _, name in ipairs(NAMES) do
    run.check(field, name)
    run.check(field, name, "abc")
    for i = 1, 8 do
      local v = values[i]
      run.check(field, name, v, "b")
      run.check(field, name, "abc", v)
      run.check(field, name, "abc", "b", v)
      run.check(field, name, 123, 2)
      run.check(field, name, 12.5, "%.")
      run.check(method, name, "abc", v)
      run.check(method, name, "a b", "%w", v)
    end
    run.check(method, name, "abc")
    for _, args in ipairs({ { "abc", "[a" }, { "abc", "(" }, { "abc", "%" }, { "a", "%1" },
      { nil, "a" }, { "abc" }, { "abc", "b", "x" }, { "abc", "b", {} }, { "aaa", "(a)", "%2" } }) do
      run.check_direct(name, unpack(args, 1, 3))
      run.check(nontail, name, unpack(args, 1, 3))
    end
  end
  -- The position comes from the caller, as LuaJIT's own: this file and line.
  local _, e = pcall(nontail.find, MINE, "abc", "[a")
  if not e:find("test_pattern.lua:%d+: malformed pattern") then
    run.bad[#run.bad + 1] = "no position in the error: " .. e
  end
  run.check(method, "find", "hello", "l", 1, true)
  run.check(method, "gsub", "hello", "l", "L", 1)
  return run.result()
end

-- Nesting bounds: LuaJIT's "pattern too complex" (200 nested matches), 32 captures.
function groups.bounds()
  local run = new_run()
  for _, n in ipairs({ 1, 50, 98, 99, 100, 101, 150, 199, 200, 201, 300 }) do
    local s = string.rep("a", n)
    for _, p in ipairs({ string.rep("a?", n), string.rep("a", n), string.rep("(a)", n % 40),
      string.rep("()", n % 40), string.rep("a*", n), string.rep("a-", n),
      string.rep("(", n % 40) .. string.rep(")", n % 40), string.rep("%f[a]a", n),
      string.rep("%b()", n) }) do
      run.check(field, "find", s, p)
      run.check(field, "match", s .. "b", p)
      run.check(field, "gsub", s, p, "%0")
      run.check(field, "gmatch", s, p)
    end
  end
  for n = 30, 34 do
    run.check(field, "match", string.rep("a", n), string.rep("(a)", n))
    run.check(field, "find", string.rep("a", n), string.rep("()", n))
    run.check(field, "gsub", string.rep("a", n), string.rep("(a)", n), "%9")
  end
  return run.result()
end

-- Random patterns of random pieces on short random subjects (a fixed seed: the same every run).
function groups.random()
  local run = new_run()
  local seed = 12345
  local function rnd(n)
    seed = (seed * 1103515245 + 12345) % 2147483648
    return seed % n + 1
  end
  local pieces = { "a", "b", "c", ".", "%a", "%d", "%s", "%w", "%p", "%A", "%S", "%b()",
    "%bab", "%f[%w]", "%f[^%w]", "%f[a]", "[ab]", "[^a]", "[a-c]", "[%]]", "[%a%d]", "(", ")",
    "()", "*", "+", "-", "?", "^", "$", "%1", "%2", "%0", "%", "[", "]", " ", "\0", "%z",
    "%%", "(a*)", "(.-)" }
  local chars = { "a", "b", "c", "(", ")", " ", "1", "\0", "\195", "%", "]", "A" }
  local repls = { "<%0>", "%1", "%2-%1", "", "%%", "%", { a = "A", b = false },
    function(...) return table.concat({ ... }, "/") end }
  for _ = 1, 6000 do
    local p, s = {}, {}
    for i = 1, rnd(7) - 1 do
      p[i] = pieces[rnd(#pieces)]
    end
    for i = 1, rnd(11) - 1 do
      s[i] = chars[rnd(#chars)]
    end
    p, s = table.concat(p), table.concat(s)
    run.check(field, "find", s, p)
    run.check(field, "find", s, p, rnd(#s + 3) - 2)
    run.check(field, "match", s, p)
    run.check(field, "gmatch", s, p)
    run.check(field, "gsub", s, p, repls[rnd(#repls)])
    run.check(field, "gsub", s, p, repls[rnd(#repls)], rnd(3) - 1)
  end
  return run.result()
end

return groups
