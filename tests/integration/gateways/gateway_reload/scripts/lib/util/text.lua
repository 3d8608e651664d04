-- Fixture of gateway_reload.test.mjs: a module in a subfolder of lib/ (not watched: SIGHUP).
return { tag = "text v1" }
