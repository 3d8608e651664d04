-- A gateway that uses the plugin: `switchboard --scripts gateways --plugin ./tag.so=mytag`.
return {
  namespace = "/",
  interceptors = { "tag" },          -- the plugin's name, from its descriptor
  events = {
    -- acks with the argument the handler got: {"a":1,"_tag":"mytag"}
    echo = function(socket, data) return data end,
  },
}
