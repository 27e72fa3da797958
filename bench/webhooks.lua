-- wrk script for bench/webhooks.py: each thread posts its own file of pre-signed deliveries, each once.
-- A line is: path <TAB> header name <TAB> header value <TAB> body.
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  requests, counter = {}, 1
  for line in io.lines(os.getenv("BENCH_REQUESTS") .. "." .. id) do
    local target, name, value, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", target, {["Content-Type"] = "application/json", [name] = value}, body)
  end
end

function request()
  local r = requests[counter]
  counter = counter % #requests + 1
  return r
end
