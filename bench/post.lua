-- wrk script: POST real provider callback bodies, each with a task id never sent before.
--
-- env BENCH_FIXTURES = directory of <provider>.json bodies containing the placeholder @@TASK_ID@@
-- env BENCH_PATHS    = comma-separated provider=path pairs, e.g. kie=/hooks/kie/<token>
-- env BENCH_NONCE    = a string unique to this run, so runs against one Redis never repeat a task id
--
-- done() prints one line "BENCH_JSON {...}" for the harness to read: latencies in ms.

local bodies = {}
local paths = {}
local counter = 0
local nonce = os.getenv("BENCH_NONCE") or "0"

for provider, path in string.gmatch(os.getenv("BENCH_PATHS"), "([^=,]+)=([^,]+)") do
    local file = assert(io.open(os.getenv("BENCH_FIXTURES") .. "/" .. provider .. ".json", "rb"))
    bodies[#bodies + 1] = file:read("*a")
    paths[#paths + 1] = path
    file:close()
end

local headers = { ["Content-Type"] = "application/json" }

request = function()
    counter = counter + 1
    local pick = counter % #bodies + 1
    local task_id = nonce .. "-" .. counter
    local body = string.gsub(bodies[pick], "@@TASK_ID@@", task_id)
    return wrk.format("POST", paths[pick], headers, body)
end

done = function(summary, latency, requests)
    local errors = summary.errors
    local seconds = summary.duration / 1e6
    io.write(string.format(
        'BENCH_JSON {"requests": %d, "duration_s": %.3f, "rps": %.1f, "p50_ms": %.3f, "p90_ms": %.3f, '
            .. '"p99_ms": %.3f, "max_ms": %.3f, "non_2xx": %d, "socket_errors": %d}\n',
        summary.requests, seconds, summary.requests / seconds,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
        latency.max / 1000, errors.status, errors.connect + errors.read + errors.write + errors.timeout
    ))
end
