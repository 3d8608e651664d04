-- Fixture of gateway_limits.test.mjs: loading this file never ends.
while true do end
