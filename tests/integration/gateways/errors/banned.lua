-- A namespace whose connection hook refuses everyone.
return {
  namespace = "/banned",
  on_connect = function(socket)
    sb.throw("banned")
  end,
  events = {
    echo = function(socket, data)
      return data
    end,
  },
}
