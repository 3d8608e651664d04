-- bench/hashflood.mjs: `join(names)` makes the socket join every room of the list (at most
-- 1,024 a call) and answers how many it was given.
return {
  namespace = "/flood",
  events = {
    join = function(socket, names)
      socket:join(names)
      return #names
    end,
  },
}
