-- IPEX-LLM's payload-1024.lua for wrk, against the plugin's OpenAI server:
-- POST /v1/completions with a prompt of about 1024 tokens and 128 tokens out.
--   MODEL=served-name API_KEY=key wrk -t1 -c4 -d60s --timeout 300s --latency \
--     -s examples/payload-1024.lua http://127.0.0.1:8000/v1/completions
-- benchmarks/serve_load.py drives it at several concurrencies and checks every response.

local paragraph = "Once upon a time, in a small village at the edge of a great forest, there lived an old " ..
  "clockmaker named Elias. Every morning he opened the shutters of his workshop, wound the hundred " ..
  "clocks that hung on its walls, and listened to them tick together like rain on a roof. Children " ..
  "came by after school to watch him work, and he told them stories about the people who had owned " ..
  "each clock: a sailor who crossed the ocean nine times, a baker who rose before the sun, a teacher " ..
  "who counted the minutes until the summer holidays. "

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("API_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
wrk.body = string.format(
  '{"model": "%s", "prompt": "%s", "max_tokens": 128, "min_tokens": 128, "temperature": 0.5, "n": 1}',
  os.getenv("MODEL") or "llama2", string.rep(paragraph, 9))

-- Per-thread counts (each wrk thread has its own Lua state); done() adds them up.
local threads = {}

setup = function(thread)
  table.insert(threads, thread)
end

init = function(args)
  well_formed = 0
  other = 0
end

response = function(status, headers, body)
  if status == 200 and body:find('"choices"') and body:find('"completion_tokens":%s*128') then
    well_formed = well_formed + 1
  else
    other = other + 1
    io.stderr:write("status " .. status .. ": " .. body:sub(1, 300) .. "\n")
  end
end

done = function(summary, latency, requests)
  local good, bad = 0, 0
  for _, thread in ipairs(threads) do
    good = good + thread:get("well_formed")
    bad = bad + thread:get("other")
  end
  io.write(string.format("responses well-formed: %d, other: %d\n", good, bad))
end
