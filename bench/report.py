"""Turn the measured points into the markdown section and the plot of docs/benchmarks.md.

Every ratio of ours is given twice: against the best peer at that concurrency (the
fastest model server measured, ours and the ceiling aside) and against the ceiling,
an empty FastAPI endpoint that serves no model (``apps/empty_fastapi.py``).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import bulk

OURS = "kerasserve"  # one worker; N workers run as "kerasserve-Nw"
CEILING = "fastapi-empty"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PEERS = ("fastapi-naive", "litserve", "pytriton", "rayserve", "bentoml")

Point = dict[str, Any]
Points = Sequence[Point]


@dataclass(frozen=True)
class Floor:
    name: str
    met: bool | None  # None: a point it needs was not measured
    detail: str

    @property
    def verdict(self) -> str:
        return {True: "met", False: "NOT met", None: "not measured"}[self.met]


def ours_name(workers: int) -> str:
    return OURS if workers == 1 else f"{OURS}-{workers}w"


def workers_of(server: str) -> int:
    """1 for ``kerasserve``, N for ``kerasserve-Nw``, 0 for any other server."""
    if server == OURS:
        return 1
    count = server.removeprefix(f"{OURS}-").removesuffix("w")
    return int(count) if count.isdigit() and server == ours_name(int(count)) else 0


def ours_servers(points: Points) -> list[str]:
    """Our servers in the run, fewest workers first."""
    return sorted({p["server"] for p in points if workers_of(p["server"])}, key=workers_of)


def _index(points: Points) -> dict[tuple[str, str, int], Point]:
    return {(p["server"], p["scenario"], p["concurrency"]): p for p in points if not p["note"]}


def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("inf")


def best_peer(points: Points, concurrency: int) -> Point | None:
    """The peer with the highest throughput on the MLP at ``concurrency``."""
    rows = [
        p for p in points
        if p["scenario"] == "mlp" and p["concurrency"] == concurrency
        and p["server"] in PEERS and not p["note"] and p["rps"] > 0
    ]  # fmt: skip
    return max(rows, key=lambda p: p["rps"], default=None)


def ceiling(points: Points, concurrency: int) -> Point | None:
    """The empty endpoint, same body, at ``concurrency``."""
    row = _index(points).get((CEILING, "mlp", concurrency))
    return row if row and row["rps"] > 0 else None


def references(points: Points, concurrency: int) -> list[tuple[str, Point | None]]:
    """What each of our figures is divided by: the best peer, then the ceiling."""
    return [
        ("best peer", best_peer(points, concurrency)),
        ("ceiling", ceiling(points, concurrency)),
    ]


def _floor(
    name: str, needed: dict[str, Point | None], judge: Callable[..., tuple[bool, str]]
) -> Floor:
    """``judge`` gets the needed points in order; a missing one makes the floor unmeasured."""
    absent = [label for label, point in needed.items() if point is None]
    if absent:
        return Floor(name, None, "no " + ", ".join(absent))
    met, detail = judge(*needed.values())
    return Floor(name, met, detail)


def _throughput(minimum: float) -> Callable[[Point, Point], tuple[bool, str]]:
    def judge(ours: Point, theirs: Point) -> tuple[bool, str]:
        ratio = _ratio(ours["rps"], theirs["rps"])
        detail = (
            f"{ours['rps']:,.0f} vs {theirs['rps']:,.0f} req/s, {ratio:.2f}x {theirs['server']}"
        )
        return ratio >= minimum, detail

    return judge


def _latency(key: str, maximum: float) -> Callable[[Point, Point], tuple[bool, str]]:
    def judge(ours: Point, theirs: Point) -> tuple[bool, str]:
        ratio = _ratio(ours[key], theirs[key])
        digits = 2 if key == "p50_ms" else 1
        detail = (
            f"{ours[key]:.{digits}f} vs {theirs[key]:.{digits}f} ms, "
            f"{ratio:.2f}x {theirs['server']}"
        )
        return ratio <= maximum, detail

    return judge


def _absolute_p50(ceiling1: Point | None) -> Callable[[Point], tuple[bool, str]]:
    def judge(ours: Point) -> tuple[bool, str]:
        beside = f"; {CEILING} {ceiling1['p50_ms']:.2f} ms" if ceiling1 else ""
        return ours["p50_ms"] <= 0.5, f"{ours['p50_ms']:.2f} ms{beside}"

    return judge


def _steady(ours: Point) -> tuple[bool, str]:
    errors = ours["non_2xx"] + ours["socket_errors"] + ours["timeouts"]
    growth = ours["rss_after_mb"] - ours["rss_before_mb"]
    detail = f"{errors} errors, RSS {ours['rss_before_mb']:.0f} -> {ours['rss_after_mb']:.0f} MB"
    return errors == 0 and growth < 50, detail


def floors(points: Points) -> list[Floor]:
    """The issues' floors, each met, not met or not measured; one worker unless stated."""
    at = _index(points)
    ours1, ours64 = at.get((OURS, "mlp", 1)), at.get((OURS, "mlp", 64))
    two64 = at.get((ours_name(2), "mlp", 64))
    naive1, naive64 = at.get(("fastapi-naive", "mlp", 1)), at.get(("fastapi-naive", "mlp", 64))
    best64, ceiling64 = best_peer(points, 64), ceiling(points, 64)
    ours_at_64, naive_at_64 = f"{OURS} c=64", "fastapi-naive c=64"
    return [
        _floor("c=64 throughput >= 1.2x best peer",
               {ours_at_64: ours64, "peer at c=64": best64}, _throughput(1.2)),
        _floor("c=64 p99 <= 2x best peer's",
               {ours_at_64: ours64, "peer at c=64": best64}, _latency("p99_ms", 2.0)),
        _floor("c=64 throughput >= 3x naive FastAPI",
               {ours_at_64: ours64, naive_at_64: naive64}, _throughput(3.0)),
        _floor("c=1 p50 within 1.2x naive FastAPI",
               {f"{OURS} c=1": ours1, "fastapi-naive c=1": naive1}, _latency("p50_ms", 1.2)),
        _floor("c=256 no errors, no timeouts, memory flat",
               {f"{OURS} c=256": at.get((OURS, "mlp", 256))}, _steady),
        _floor("c=1 p50 <= 0.50 ms", {f"{OURS} c=1": ours1}, _absolute_p50(ceiling(points, 1))),
        _floor("c=64 throughput >= 70% of the ceiling's",
               {ours_at_64: ours64, f"{CEILING} c=64": ceiling64}, _throughput(0.7)),
        _floor("c=64 p99 <= 2x the ceiling's",
               {ours_at_64: ours64, f"{CEILING} c=64": ceiling64}, _latency("p99_ms", 2.0)),
        _floor("c=64 with 2 workers: throughput >= the one-process ceiling's",
               {f"{ours_name(2)} c=64": two64, f"{CEILING} c=64": ceiling64}, _throughput(1.0)),
    ]  # fmt: skip


def _row(p: Point) -> str:
    if p["note"]:
        return f"| {p['server']} | {p['scenario']} | - | {p['note']} |||||||"
    errors = p["non_2xx"] + p["socket_errors"] + p["timeouts"]
    return (
        f"| {p['server']} | {p['scenario']} | {p['concurrency']} | {p['rps']:,.0f} | "
        f"{p['p50_ms']:.2f} | {p['p90_ms']:.1f} | {p['p99_ms']:.1f} | {p['max_ms']:.0f} | "
        f"{errors} | {p['rss_before_mb']:.0f}->{p['rss_after_mb']:.0f} | {p['batches']} |"
    )


def table(points: Points) -> str:
    head = (
        "| server | scenario | c | req/s | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| RSS MB | batch sizes (ours) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([head, *(_row(p) for p in points if p["server"] != "raw-generator")])


def _cell(ours: Point, theirs: Point | None, name: bool) -> str:
    if theirs is None:
        return "-"
    rps = _ratio(ours["rps"], theirs["rps"])
    p50, p99 = _ratio(ours["p50_ms"], theirs["p50_ms"]), _ratio(ours["p99_ms"], theirs["p99_ms"])
    return f"{rps:.2f}x ({p50:.2f}x, {p99:.2f}x)" + (f" {theirs['server']}" if name else "")


def ratios(points: Points) -> str:
    """Each of our servers against the best peer and against the ceiling, per concurrency."""
    at = _index(points)
    levels = sorted(
        {p["concurrency"] for p in points if p["scenario"] == "mlp" and p["concurrency"]}
    )
    lines = [
        "| ours | against | " + " | ".join(f"c={c}" for c in levels) + " |",
        "|---|---|" + "---|" * len(levels),
    ]
    for server in ours_servers(points):
        for position, label in enumerate(("best peer", "ceiling")):
            cells = []
            for c in levels:
                ours, reference = at.get((server, "mlp", c)), references(points, c)[position][1]
                cells.append(_cell(ours, reference, position == 0) if ours else "-")
            if any(cell != "-" for cell in cells):
                lines.append(f"| {server} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(points: Points) -> str:
    """The issue's table: ours, the ceiling, then the peers by c=64 throughput."""
    at = _index(points)
    peers = sorted(
        (peer for peer in PEERS if any(key[0] == peer and key[1] == "mlp" for key in at)),
        key=lambda peer: -at.get((peer, "mlp", 64), {"rps": -1.0})["rps"],
    )
    lines = [
        "| server | c=1 p50 ms | c=64 req/s | c=64 p99 ms |",
        "|---|---|---|---|",
    ]
    for server in [*ours_servers(points), CEILING, *peers]:
        one, many = at.get((server, "mlp", 1)), at.get((server, "mlp", 64))
        if one or many:
            label = {CEILING: f"{CEILING} (ceiling, no model)"}.get(server, server)
            if workers := workers_of(server):
                label = f"{server} ({workers} worker{'s' if workers > 1 else ''})"
            cells = [
                f"{one['p50_ms']:.2f}" if one else "-",
                f"{many['rps']:,.0f}" if many else "-",
                f"{many['p99_ms']:.1f}" if many else "-",
            ]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def generator_line(points: Points) -> str:
    at = _index(points)
    raw = at.get(("raw-generator", "generate16", 1))
    served = [
        p for p in points
        if workers_of(p["server"]) and p["scenario"] == "generate16" and not p["note"]
    ]  # fmt: skip
    if not raw or not served:
        return "Generator: not measured."
    cells = ", ".join(
        f"{p['server']} c={p['concurrency']}: {p['rps'] * 16:,.0f} images/s" for p in served
    )
    return (
        f"Generator, 16 images per call as one PNG grid: raw model + PNG encoding in one "
        f"process {raw['rps'] * 16:,.0f} images/s; `/v1/generate` {cells}."
    )


def plot(points: Points, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for server in (*ours_servers(points), CEILING, *PEERS):
        rows = sorted(
            (
                p
                for p in points
                if p["server"] == server and p["scenario"] == "mlp" and not p["note"]
            ),
            key=lambda p: p["concurrency"],
        )
        if rows:
            xs = [p["concurrency"] for p in rows]
            style: dict[str, Any] = {"linewidth": 2.5 if workers_of(server) else 1.2}
            if server == CEILING:
                style.update(color="black", linestyle="--")
            left.plot(xs, [p["rps"] for p in rows], marker="o", label=server, **style)
            right.plot(xs, [p["p99_ms"] for p in rows], marker="o", label=server, **style)
    for axis, title in ((left, "throughput (req/s)"), (right, "p99 latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent connections")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    right.set_yscale("log")
    left.legend(fontsize=8)
    figure.suptitle(f"fashion_mlp, one 28x28 PNG per request ({CEILING}: no model, dashed)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def section(points: Points, header: str) -> str:
    floor_lines = "\n".join(f"- {f.verdict}: {f.name} ({f.detail})" for f in floors(points))
    return "\n\n".join([
        header,
        "### fashion_mlp at c=1 and c=64", summary(points),
        "### Ratios, ours / best peer and ours / ceiling", RATIOS_KEY, ratios(points),
        "### Floors", "One worker unless stated.", floor_lines,
        "### All points", table(points),
        generator_line(points), "![throughput and p99 against concurrency](benchmarks.png)",
        *filter(None, [bulk.section(points, ours_servers(points))]),
    ])  # fmt: skip


RATIOS_KEY = (
    "Each cell: req/s ratio (p50 ratio, p99 ratio); above 1 is better for req/s, below 1 "
    f"for latency. The best peer is the fastest of {', '.join(PEERS)} at that concurrency "
    f"(named in the cell); the ceiling is {CEILING}, the same request answered by an empty "
    "FastAPI endpoint with no model."
)


def write(doc: Path, text: str, begin: str = BEGIN, end_marker: str = END) -> None:
    """Replace what lies between the markers in ``doc`` (or append a marked section)."""
    block = f"{begin}\n{text}\n{end_marker}"
    old = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
    if begin in old and end_marker in old:
        start, end = old.index(begin), old.index(end_marker) + len(end_marker)
        new = old[:start] + block + old[end:]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    doc.write_text(new)
