"""The gRPC part of docs/benchmarks.md: ours, PyTriton's gRPC endpoint and the empty
`grpc.aio` servicer side by side, the ratios, and the floors of issue 24."""

from bench.grpc_run import CEILING, OURS, PYTRITON, SCENARIOS
from bench.report import Floor, Point, Points

BEGIN, END = "<!-- bench-grpc:begin -->", "<!-- bench-grpc:end -->"

FLOORS_NOTE = (
    "Floors, per request kind: ours at c=64 >= 1.5x PyTriton's gRPC throughput "
    "with a lower p99, and >= 70% of the ceiling's; ours at c=1 p50 <= 1 ms."
)


def _at(points: Points) -> dict[tuple[str, str, int], Point]:
    return {(p["server"], p["scenario"], p["concurrency"]): p for p in points if not p["note"]}


def floors(points: Points) -> list[Floor]:
    at, found = _at(points), []
    for scenario in SCENARIOS:
        ours1, ours64 = at.get((OURS, scenario, 1)), at.get((OURS, scenario, 64))
        triton64, ceiling64 = at.get((PYTRITON, scenario, 64)), at.get((CEILING, scenario, 64))
        if ours64 and triton64:
            ratio = ours64["rps"] / triton64["rps"] if triton64["rps"] else float("inf")
            met = ratio >= 1.5 and ours64["p99_ms"] < triton64["p99_ms"]
            detail = (
                f"{ours64['rps']:,.0f} vs {triton64['rps']:,.0f} calls/s ({ratio:.2f}x), p99 "
                f"{ours64['p99_ms']:.1f} vs {triton64['p99_ms']:.1f} ms"
            )
            found.append(Floor(f"{scenario} c=64 >= 1.5x PyTriton, lower p99", met, detail))
        else:
            found.append(Floor(f"{scenario} c=64 >= 1.5x PyTriton, lower p99", None, "missing"))
        if ours64 and ceiling64:
            share = ours64["rps"] / ceiling64["rps"] if ceiling64["rps"] else 0.0
            detail = f"{ours64['rps']:,.0f} vs {ceiling64['rps']:,.0f} calls/s ({share:.0%})"
            found.append(Floor(f"{scenario} c=64 >= 70% of the ceiling", share >= 0.7, detail))
        else:
            found.append(Floor(f"{scenario} c=64 >= 70% of the ceiling", None, "missing"))
        if ours1:
            found.append(
                Floor(
                    f"{scenario} c=1 p50 <= 1 ms",
                    ours1["p50_ms"] <= 1.0,
                    f"{ours1['p50_ms']:.2f} ms",
                )
            )
        else:
            found.append(Floor(f"{scenario} c=1 p50 <= 1 ms", None, "missing"))
    return found


def _row(p: Point) -> str:
    if p["note"]:
        return f"| {p['server']} | {p['scenario']} | {p['concurrency']} | {p['note']} ||||||"
    return (
        f"| {p['server']} | {p['scenario']} | {p['concurrency']} | {p['rps']:,.0f} | "
        f"{p['p50_ms']:.2f} | {p['p90_ms']:.1f} | {p['p99_ms']:.1f} | {p['max_ms']:.0f} | "
        f"{p['non_2xx']} | {p['batches']} |"
    )


def ratios(points: Points) -> str:
    at = _at(points)
    lines = [
        "| request | c | ours / PyTriton: calls/s (p50, p99) "
        "| ours / ceiling: calls/s (p50, p99) |",
        "|---|---|---|---|",
    ]
    for scenario in SCENARIOS:
        for c in (1, 64):
            ours = at.get((OURS, scenario, c))
            cells = []
            for other in (PYTRITON, CEILING):
                theirs = at.get((other, scenario, c))
                if ours and theirs and theirs["rps"] and theirs["p50_ms"] and theirs["p99_ms"]:
                    rps, p50 = ours["rps"] / theirs["rps"], ours["p50_ms"] / theirs["p50_ms"]
                    cells.append(
                        f"{rps:.2f}x ({p50:.2f}x, {ours['p99_ms'] / theirs['p99_ms']:.2f}x)"
                    )
                else:
                    cells.append("-")
            lines.append(f"| {scenario} | {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section(points: Points) -> str:
    rows = [p for p in points if p["scenario"] in SCENARIOS]
    if not rows:
        return ""
    head = (
        "| server | request | c | calls/s | p50 ms | p90 ms | p99 ms | max ms | failed "
        "| server's own OK count |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    floor_lines = "\n".join(f"- {f.verdict}: {f.name} ({f.detail})" for f in floors(points))
    return "\n\n".join([
        "### KServe V2 ModelInfer over gRPC, fashion_mlp",
        f"`{OURS}`: this service's gRPC port; `{PYTRITON}`: PyTriton's gRPC endpoint (the "
        f"same app as the REST row); `{CEILING}`: `bench/apps/empty_grpc.py`, `grpc.aio` "
        "answering a fixed reply, no model. `grpc-fp32`: the decoded pixels as an FP32 "
        "[1, 28, 28, 1] tensor; `grpc-png`: the PNG as a BYTES tensor. h2load, one stream per "
        "connection; a point fails when h2load's count of 200s and the server's own count of "
        "OK calls differ.",
        "\n".join([head, *(_row(p) for p in rows)]),
        ratios(points), FLOORS_NOTE, floor_lines,
    ])  # fmt: skip
