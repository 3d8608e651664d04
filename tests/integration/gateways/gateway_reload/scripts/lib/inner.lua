-- Fixture of gateway_reload.test.mjs: required by lib/outer.lua only.
return { tag = "inner v1" }
