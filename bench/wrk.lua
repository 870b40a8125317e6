-- One endpoint per run (BENCH_ENDPOINT), a random benchmark patient per request (BENCH_TARGETS: Lua data).
local endpoint = os.getenv("BENCH_ENDPOINT")
local targets = dofile(os.getenv("BENCH_TARGETS"))
local performed_at = os.getenv("BENCH_PERFORMED_AT")
local count = #targets

function setup(thread)
  thread:set("seed", math.random(1, 1000000))
end

function init(args)
  math.randomseed(os.time() + (seed or 0))
end

local function hex(n)
  local parts = {}
  for i = 1, n do parts[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(parts)
end

local function uuid4()
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-" .. string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(12)
end

request = function()
  local t = targets[math.random(count)]
  local patient = { ["Authorization"] = "Bearer " .. t.patient_token }
  if endpoint == "plan" then
    return wrk.format("GET", "/v1/me/plan", patient)
  elseif endpoint == "programme" then
    return wrk.format("GET", "/v1/me/programmes/" .. t.programme_id, patient)
  elseif endpoint == "programme_304" then
    patient["If-None-Match"] = t.etag
    return wrk.format("GET", "/v1/me/programmes/" .. t.programme_id, patient)
  elseif endpoint == "log" then
    patient["Content-Type"] = "application/json"
    local body = string.format(
      '{"id":"%s","programme_id":"%s","item_id":"%s","revision":%d,"performed_at":"%s",' ..
      '"sets_done":2,"reps_done":[10,10],"pain_during":2,"pain_after":1,"leg_symptoms":"none","response":"same"}',
      uuid4(), t.programme_id, t.item_id, t.revision, performed_at)
    return wrk.format("POST", "/v1/me/sessions", patient, body)
  elseif endpoint == "exercises" then
    return wrk.format("GET", "/v1/exercises?q=bridge", { ["Authorization"] = "Bearer " .. t.physio_token })
  elseif endpoint == "adherence" then
    return wrk.format("GET", "/v1/patients/" .. t.patient_id .. "/adherence", { ["Authorization"] = "Bearer " .. t.physio_token })
  end
  error("unknown BENCH_ENDPOINT " .. tostring(endpoint))
end
