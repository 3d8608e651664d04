-- Fixture of lua_api.test.mjs: a module that api.lua requires from <scripts>/lib/.
return {
  greet = function(name) return "hello " .. name end,
}
