"""`make bench`: load the hot endpoints with wrk; compare each with a bare FastAPI app serving the same bytes.

The API (`hep serve`, one worker) and the bare app each run pinned to core 0; wrk runs pinned to core 1.
SQLite by default; PostgreSQL when HEP_DATABASE_URL names one (a hep_bench_<size> database is created
next to it). Prints one table and writes it to bench/results/<date>-<size>-<database>.md.

    python -m bench.run --size small
    python -m bench.run --size large --clinics 50 --patients 50000 --logs 5000000
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.budget import budget_table
from bench.cpu import log_body
from bench.generate import (
    BENCH_DIR,
    SIZES,
    bench_environment,
    data_dir,
    database_url_for,
    generate,
    remove_bench_logs,
    stop_process,
)

ROOT = BENCH_DIR.parent
BIN = Path(sys.executable).parent
API_PORT, BARE_PORT = 18765, 18766
# The log last: every request of it adds a log dated today, which the plan and adherence then read.
ENDPOINTS = [
    ("plan", "GET /v1/me/plan", 0.5),
    ("programme", "GET /v1/me/programmes/{id} (200)", 0.8),
    ("programme_304", "GET /v1/me/programmes/{id} (304)", 0.8),
    ("exercises", "GET /v1/exercises?q=bridge", None),
    ("adherence", "GET /v1/patients/{id}/adherence", None),
    ("log", "POST /v1/me/sessions", 0.3),
]
# Ratio targets on PostgreSQL (ENDPOINTS holds SQLite's).
POSTGRESQL_TARGETS = {"plan": 0.35, "programme": 0.5, "programme_304": 0.5, "log": 0.2}
# On SQLite, the p99 of the read routes at most this many times the bare app's p99 in the same run.
P99_TARGET_FACTOR = 1.5
P99_ENDPOINTS = ("plan", "programme", "programme_304")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _to_ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNIT_MS[unit]


def parse_wrk(output: str) -> dict[str, Any]:
    def find(pattern: str) -> str | None:
        match = re.search(pattern, output)
        return match.group(1) if match else None

    errors = find(r"Non-2xx or 3xx responses: (\d+)")
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "rps": float(find(r"Requests/sec:\s+([\d.]+)") or 0),
        "p50": _to_ms(find(r"\n\s+50%\s+(\S+)") or "0ms"),
        "p99": _to_ms(find(r"\n\s+99%\s+(\S+)") or "0ms"),
        "requests": int(find(r"(\d+) requests in") or 0),
        "bad_status": int(errors or 0),
        "socket_errors": sum(int(n) for n in socket.groups()) if socket else 0,
    }


def _wait_ready(port: int, process: subprocess.Popen, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server on port {port} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not start")


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            ["taskset", "-c", "0", *command], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
        )


def _peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, bytes, str | None]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), response.headers.get("ETag")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("ETag")


def capture(port: int, target: dict[str, Any], performed_at: str) -> dict[str, Any]:
    """The API's own response bytes for each endpoint, for the bare app to serve."""
    patient = {"Authorization": f"Bearer {target['patient_token']}"}
    physio = {"Authorization": f"Bearer {target['physio_token']}"}
    log = log_body(target, performed_at)
    calls = {
        "plan": ("GET", "/v1/me/plan", patient, None),
        "programme": ("GET", f"/v1/me/programmes/{target['programme_id']}", patient, None),
        "log": ("POST", "/v1/me/sessions", {**patient, "Content-Type": "application/json"}, log),
        "exercises": ("GET", "/v1/exercises?q=bridge", physio, None),
        "adherence": ("GET", f"/v1/patients/{target['patient_id']}/adherence", physio, None),
    }
    captured = {}
    for name, (method, path, headers, body) in calls.items():
        status, content, etag = _request(port, method, path, headers, body)
        if status not in (200, 201):
            raise RuntimeError(f"{method} {path} answered {status}: {content[:300]!r}")
        captured[name] = {"status": status, "body": content.decode(), "etag": etag}
    if captured["programme"]["etag"] != target["etag"]:
        raise RuntimeError(f"ETag {captured['programme']['etag']} is not the generated {target['etag']}")
    return captured


def run_wrk(port: int, endpoint: str, env: dict[str, str], duration: int, connections: int) -> dict[str, Any]:
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    command += ["-s", str(BENCH_DIR / "wrk.lua"), f"http://127.0.0.1:{port}"]
    result = subprocess.run(
        command, env={**env, "BENCH_ENDPOINT": endpoint}, capture_output=True, text=True, check=True
    )
    return parse_wrk(result.stdout)


def load(
    port: int, env: dict[str, str], duration: int, warmup: int, connections: int
) -> dict[str, dict[str, Any]]:
    results = {}
    for endpoint, label, _ in ENDPOINTS:
        if warmup:
            run_wrk(port, endpoint, env, warmup, connections)
        results[endpoint] = run_wrk(port, endpoint, env, duration, connections)
        result = results[endpoint]
        print(
            f"  {label:<36} {result['rps']:>9,.0f} req/s"
            f"  p50 {result['p50']:7.2f} ms  p99 {result['p99']:7.2f} ms"
        )
    return results


def table(api: dict[str, dict[str, Any]], bare: dict[str, dict[str, Any]], sqlite: bool) -> str:
    lines = [
        "| endpoint | req/s | p50 ms | p99 ms | bare req/s | bare p50 ms | bare p99 ms "
        "| ratio to bare | target | met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for endpoint, label, target in ENDPOINTS:
        if not sqlite:
            target = POSTGRESQL_TARGETS.get(endpoint)
        a, b = api[endpoint], bare[endpoint]
        ratio = a["rps"] / b["rps"] if b["rps"] else 0.0
        errors = a["bad_status"] + a["socket_errors"]
        checks = [a["rps"] > 0 and errors == 0]
        if target is not None:
            checks.append(ratio >= target)
        if sqlite and endpoint in P99_ENDPOINTS:
            checks.append(a["p99"] <= P99_TARGET_FACTOR * b["p99"])
        met = "yes" if all(checks) else "**no**"
        label_text = label + (f" ({errors} errors)" if errors else "")
        lines.append(
            f"| {label_text} | {a['rps']:,.0f} | {a['p50']:.2f} | {a['p99']:.2f} "
            f"| {b['rps']:,.0f} | {b['p50']:.2f} | "
            f"{b['p99']:.2f} | {ratio:.2f} | {'≥ ' + format(target, '.2f') if target else '—'} | {met} |"
        )
    return "\n".join(lines)


CPU_ROUNDS = 3
CPU_TARGETS = {endpoint: target for endpoint, _, target in ENDPOINTS if target is not None}


def measure_cpu(
    env: dict[str, str], data: Path, endpoints: list[str], wait: bool, checkout: Path = ROOT
) -> dict[str, Any]:
    """bench.cpu in a process of its own: CPU per request in-process, API and bare app (HEP_AUDIT_WAIT as
    given: whether a read's answer waits for its audit row's commit). `checkout`: the code to measure, this
    one or an earlier commit's work tree (--before), with this run's measuring script and data."""
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "cpu.py"
        shutil.copy(BENCH_DIR / "cpu.py", script)
        command = [str(BIN / "python"), str(script), "--targets", str(data / "targets.json")]
        command += ["--only", ",".join(endpoints)]
        result = subprocess.run(
            ["taskset", "-c", "0", *command],
            env={**env, "HEP_AUDIT_WAIT": "1" if wait else "0", "PYTHONPATH": str(checkout)},
            capture_output=True,
            text=True,
            check=True,
            cwd=checkout,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_budget(env: dict[str, str], data: Path) -> dict[str, float]:
    """bench.budget in a process of its own: the framework's floor and each rule's cost of a 304, and the
    bounds they set on the plan and the session log."""
    command = [str(BIN / "python"), "-m", "bench.budget", "--targets", str(data / "targets.json")]
    result = subprocess.run(
        ["taskset", "-c", "0", *command], env=env, capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def least(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per endpoint, the run with the least API CPU of several bench.cpu runs, its ratio taken against
    the least bare CPU of them all."""
    if not runs:
        return {}
    result: dict[str, Any] = {}
    for endpoint in runs[0]:
        rows = [run[endpoint] for run in runs]
        best = dict(min(rows, key=lambda row: row["api_ms"]))
        best["bare_ms"] = min(row["bare_ms"] for row in rows)
        best["ratio"] = round(best["bare_ms"] / best["api_ms"], 3)
        result[endpoint] = best
    return result


def cpu_table(waited: dict[str, Any], unwaited: dict[str, Any], before: dict[str, Any], sqlite: bool) -> str:
    targets = CPU_TARGETS if sqlite else POSTGRESQL_TARGETS
    lines = [
        "| endpoint | before: API CPU ms (ratio) | API CPU ms/request | bare CPU ms/request | ratio to bare "
        "| target | reads per commit | commit p99 ms | ratio, answer not waiting for the audit commit |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint, row in waited.items():
        other, earlier = unwaited.get(endpoint, {}), before.get(endpoint)
        was = f"{earlier['api_ms']:.3f} ({earlier['ratio']:.2f})" if earlier else "—"
        lines.append(
            f"| {endpoint} | {was} | {row['api_ms']:.3f} | {row['bare_ms']:.3f} | {row['ratio']:.2f} "
            f"| ≥ {targets[endpoint]:.2f} | {row.get('reads_per_commit', '—')} "
            f"| {row.get('commit_p99_ms', '—')} | {other.get('ratio', '—')} |"
        )
    return "\n".join(lines)


def lua_targets(targets: list[dict[str, Any]]) -> str:
    rows = ",\n".join(
        "{" + ", ".join(f"{key} = {json.dumps(value)}" for key, value in target.items()) + "}"
        for target in targets
    )
    return "return {\n" + rows + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size", default="small", help="small, medium, or a custom name with the three flags below"
    )
    parser.add_argument("--clinics", type=int)
    parser.add_argument("--patients", type=int)
    parser.add_argument("--logs", type=int)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of unmeasured load before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--regenerate", action="store_true", help="rebuild the data even if it exists")
    parser.add_argument(
        "--before",
        help="a work tree of an earlier commit (git worktree add --detach DIR REV): its CPU per request "
        "is measured in the same run, on the same data, for a before/after table",
    )
    parser.add_argument(
        "--only",
        help="comma-separated endpoints to load (" + ", ".join(e[0] for e in ENDPOINTS) + "); "
        "a partial run prints its table but does not write bench/results",
    )
    args = parser.parse_args()
    if args.only:
        wanted_endpoints = set(args.only.split(","))
        unknown = wanted_endpoints - {e[0] for e in ENDPOINTS}
        if unknown:
            parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")
        ENDPOINTS[:] = [e for e in ENDPOINTS if e[0] in wanted_endpoints]

    size = dict(SIZES.get(args.size, {}))
    size.update(
        {k: getattr(args, k) for k in ("clinics", "patients", "logs") if getattr(args, k) is not None}
    )
    if set(size) != {"clinics", "patients", "logs"}:
        parser.error("a custom size needs --clinics, --patients and --logs")
    data = data_dir(args.size)
    targets_file = data / "targets.json"
    url = database_url_for(args.size)
    existing = json.loads(targets_file.read_text()) if targets_file.exists() else None
    wanted = (size["clinics"], size["patients"], size["logs"], url)
    if (
        args.regenerate
        or existing is None
        or (
            existing["meta"]["clinics"],
            existing["meta"]["patients"],
            existing["meta"]["logs"],
            existing["database_url"],
        )
        != wanted
    ):
        generate(args.size, **size)
        existing = json.loads(targets_file.read_text())
    meta, targets = existing["meta"], existing["targets"]
    (data / "targets.lua").write_text(lua_targets(targets))

    performed_at = datetime.now(UTC).replace(microsecond=0).isoformat()
    env = {
        **os.environ,
        **bench_environment(url),
        "HEP_HOST": "127.0.0.1",
        "BENCH_TARGETS": str(data / "targets.lua"),
        "BENCH_PERFORMED_AT": performed_at,
        "BENCH_BARE_RESPONSES": str(data / "bare_responses.json"),
    }
    print(
        f"bench {args.size} on {meta['dialect']}: {meta['clinics']} clinics, {meta['patients']:,} patients, "
        f"{meta['logs']:,} logs; {args.connections} connections, {args.duration} s per endpoint"
    )

    print("API (hep serve, 1 worker, core 0):")
    api_process = _start([str(BIN / "hep"), "serve", "--port", str(API_PORT)], env, data / "api.log")
    try:
        _wait_ready(API_PORT, api_process)
        (data / "bare_responses.json").write_text(json.dumps(capture(API_PORT, targets[0], performed_at)))
        api = load(API_PORT, env, args.duration, args.warmup, args.connections)
        peak_rss = _peak_rss_mib(api_process.pid)
    finally:
        stop_process(api_process)
        remove_bench_logs(url, performed_at)

    print("bare FastAPI app (same bytes from memory, core 0):")
    bare_command = [str(BIN / "python"), "-m", "uvicorn", "bench.bare_app:create_app", "--factory"]
    bare_command += [
        "--host",
        "127.0.0.1",
        "--port",
        str(BARE_PORT),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    bare_process = _start(bare_command, env, data / "bare.log")
    try:
        _wait_ready(BARE_PORT, bare_process, "/docs")
        bare = load(BARE_PORT, env, args.duration, args.warmup, args.connections)
    finally:
        stop_process(bare_process)

    print(f"CPU per request in-process (bench.cpu, core 0, the least of {CPU_ROUNDS} runs in turns):")
    cpu_endpoints = [endpoint for endpoint, _, _ in ENDPOINTS if endpoint in CPU_TARGETS]
    reads = [endpoint for endpoint in cpu_endpoints if endpoint != "log"]
    # This code, this code not waiting for the audit commit, and --before's, in turns: the machine's
    # ups and downs fall on all three, and the least of each is its least disturbed run.
    kinds: dict[str, tuple[list[str], bool, Path]] = {"waited": (cpu_endpoints, True, ROOT)}
    if reads:
        kinds["unwaited"] = (reads, False, ROOT)
    if args.before:
        kinds["before"] = (cpu_endpoints, True, Path(args.before))
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for _ in range(CPU_ROUNDS):
        for kind, (endpoints, wait, checkout) in kinds.items():
            try:
                runs[kind].append(measure_cpu(env, data, endpoints, wait=wait, checkout=checkout))
            finally:
                remove_bench_logs(url, performed_at)
    waited, unwaited, before = (least(runs.get(kind, [])) for kind in ("waited", "unwaited", "before"))

    sqlite = meta["dialect"].startswith("sqlite")
    rendered = table(api, bare, sqlite) + "\n\n" + cpu_table(waited, unwaited, before, sqlite)
    budget: dict[str, float] = {}
    if "programme_304" in waited:
        print("Where a 304's CPU goes (bench.budget, core 0):")
        try:
            budget = measure_budget(env, data)
        finally:
            remove_bench_logs(url, performed_at)  # its session logs, as after each bench.cpu run
        rendered += "\n\n" + budget_table(budget)
    today = datetime.now(UTC).date().isoformat()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    report = (
        f"# Benchmark {today}: {args.size} on {meta['dialect']}\n\n"
        f"- data: {meta['clinics']} clinics, {meta['patients']:,} patients, {meta['logs']:,} session logs "
        f"(generated at {meta['log_rows_per_second']:,} log rows/s)\n"
        f"- load: wrk -t1 -c{args.connections} -d{args.duration}s --latency on core 1 "
        f"after a {args.warmup} s warm-up; "
        f"API `hep serve` (1 worker) and the bare app each alone on core 0; HEP_DISPATCHER=off\n"
        f"- machine: {os.cpu_count()} cores, {cpu}; Python {sys.version.split()[0]}\n"
        f"- API peak RSS (VmHWM) after the load: {peak_rss:.0f} MiB\n\n"
        f"{rendered}\n\n"
        f"Targets: ratio to bare as listed; on SQLite the p99 of plan and programme at most "
        f"{P99_TARGET_FACTOR}× the bare app's p99 at {args.connections} connections. The second table: CPU "
        "per request in-process (bench/cpu.py), the steadiest measure on a shared machine: the least of "
        f"{CPU_ROUNDS} runs, this code and --before's in turns. The third: where a 304's CPU goes "
        "(bench/budget.py): the bare app, the framework's floor, the rules alone and the API in one "
        "process, in turns; each rule alone; then the bounds these set on the plan and the session log.\n"
    )
    print()
    print(rendered)
    if args.only:
        return
    out = BENCH_DIR / "results" / f"{today}-{args.size}-{meta['dialect'].split('+')[0]}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    (out.with_suffix(".json")).write_text(
        json.dumps(
            {
                "meta": meta,
                "api": api,
                "bare": bare,
                "cpu": waited,
                "cpu_unwaited": unwaited,
                "cpu_before": before,
                "budget_304_us": budget,
                "peak_rss_mib": peak_rss,
            },
            indent=1,
        )
    )
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
