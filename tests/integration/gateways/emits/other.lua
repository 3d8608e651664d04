-- Declares the namespace "/other" for emits.test.mjs.
return {
  namespace = "/other",
  events = {
    all = function(socket, data)
      return sb.emit("news", data)
    end,
  },
}
