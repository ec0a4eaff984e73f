"""Turn the measured points into the markdown section and the plot of docs/benchmarks.md."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OURS = "kerasserve"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PEERS = ("fastapi-naive", "litserve", "pytriton", "rayserve", "bentoml")


@dataclass(frozen=True)
class Floor:
    name: str
    met: bool
    detail: str


def _index(points: Sequence[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {(p["server"], p["scenario"], p["concurrency"]): p for p in points if not p["note"]}


def best_peer(points: Sequence[dict[str, Any]], concurrency: int) -> dict[str, Any] | None:
    """The peer with the highest throughput on the MLP at ``concurrency``."""
    rows = [
        p for p in points
        if p["scenario"] == "mlp" and p["concurrency"] == concurrency
        and p["server"] in PEERS and not p["note"]
    ]  # fmt: skip
    return max(rows, key=lambda p: p["rps"], default=None)


def floors(points: Sequence[dict[str, Any]]) -> list[Floor]:
    """The issue's floors, each met or not."""
    at = _index(points)
    ours64, naive64 = at.get((OURS, "mlp", 64)), at.get(("fastapi-naive", "mlp", 64))
    best64 = best_peer(points, 64)
    out = []
    if ours64 and best64:
        ratio = ours64["rps"] / best64["rps"]
        out.append(Floor("c=64 throughput >= 1.2x best peer", ratio >= 1.2,
                         f"{ratio:.2f}x {best64['server']}"))  # fmt: skip
        p99 = ours64["p99_ms"] / best64["p99_ms"]
        detail = f"{ours64['p99_ms']:.1f} vs {best64['p99_ms']:.1f} ms ({p99:.2f}x)"
        out.append(Floor("c=64 p99 <= 2x best peer's", p99 <= 2.0, detail))
    if ours64 and naive64:
        ratio = ours64["rps"] / naive64["rps"]
        out.append(Floor("c=64 throughput >= 3x naive FastAPI", ratio >= 3.0, f"{ratio:.2f}x"))
    ours1, naive1 = at.get((OURS, "mlp", 1)), at.get(("fastapi-naive", "mlp", 1))
    if ours1 and naive1:
        ratio = ours1["p50_ms"] / naive1["p50_ms"]
        detail = f"{ours1['p50_ms']:.2f} vs {naive1['p50_ms']:.2f} ms ({ratio:.2f}x)"
        out.append(Floor("c=1 p50 within 1.2x naive FastAPI", ratio <= 1.2, detail))
    ours256 = at.get((OURS, "mlp", 256))
    if ours256:
        errors = ours256["non_2xx"] + ours256["socket_errors"] + ours256["timeouts"]
        growth = ours256["rss_after_mb"] - ours256["rss_before_mb"]
        out.append(Floor("c=256 no errors, no timeouts, memory flat",
                         errors == 0 and growth < 50,
                         f"{errors} errors, RSS {ours256['rss_before_mb']:.0f} -> "
                         f"{ours256['rss_after_mb']:.0f} MB"))  # fmt: skip
    return out


def _row(p: dict[str, Any]) -> str:
    if p["note"]:
        return f"| {p['server']} | {p['scenario']} | - | {p['note']} |||||||"
    errors = p["non_2xx"] + p["socket_errors"] + p["timeouts"]
    return (
        f"| {p['server']} | {p['scenario']} | {p['concurrency']} | {p['rps']:,.0f} | "
        f"{p['p50_ms']:.1f} | {p['p90_ms']:.1f} | {p['p99_ms']:.1f} | {p['max_ms']:.0f} | "
        f"{errors} | {p['rss_before_mb']:.0f}->{p['rss_after_mb']:.0f} | {p['batches']} |"
    )


def table(points: Sequence[dict[str, Any]]) -> str:
    head = (
        "| server | scenario | c | req/s | p50 ms | p90 ms | p99 ms | max ms | errors "
        "| RSS MB | batch sizes (ours) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    )
    return "\n".join([head, *(_row(p) for p in points if p["server"] != "raw-generator")])


def ratios(points: Sequence[dict[str, Any]]) -> str:
    at = _index(points)
    levels = sorted(
        {p["concurrency"] for p in points if p["scenario"] == "mlp" and p["concurrency"]}
    )
    lines = [
        "| ours / peer | " + " | ".join(f"c={c} req/s (p99)" for c in levels) + " |",
        "|---|" + "---|" * len(levels),
    ]
    for peer in PEERS:
        cells = []
        for c in levels:
            ours, theirs = at.get((OURS, "mlp", c)), at.get((peer, "mlp", c))
            if ours and theirs and theirs["rps"] and theirs["p99_ms"]:
                cells.append(
                    f"{ours['rps'] / theirs['rps']:.2f}x ({ours['p99_ms'] / theirs['p99_ms']:.2f}x)"
                )
            else:
                cells.append("-")
        if any(cell != "-" for cell in cells):
            lines.append(f"| {peer} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def generator_line(points: Sequence[dict[str, Any]]) -> str:
    at = _index(points)
    raw = at.get(("raw-generator", "generate16", 1))
    served = [
        p for p in points if p["server"] == OURS and p["scenario"] == "generate16" and not p["note"]
    ]
    if not raw or not served:
        return "Generator: not measured."
    cells = ", ".join(f"c={p['concurrency']}: {p['rps'] * 16:,.0f} images/s" for p in served)
    return (
        f"Generator, 16 images per call as one PNG grid: raw model + PNG encoding in one "
        f"process {raw['rps'] * 16:,.0f} images/s; `/v1/generate` {cells}."
    )


def plot(points: Sequence[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for server in (OURS, *PEERS):
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
            style = {"linewidth": 2.5} if server == OURS else {"linewidth": 1.2}
            left.plot(xs, [p["rps"] for p in rows], marker="o", label=server, **style)
            right.plot(xs, [p["p99_ms"] for p in rows], marker="o", label=server, **style)
    for axis, title in ((left, "throughput (req/s)"), (right, "p99 latency (ms)")):
        axis.set_xscale("log", base=2)
        axis.set_xlabel("concurrent connections")
        axis.set_title(title)
        axis.grid(alpha=0.3)
    right.set_yscale("log")
    left.legend(fontsize=8)
    figure.suptitle("fashion_mlp, one 28x28 PNG per request")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def section(points: Sequence[dict[str, Any]], header: str) -> str:
    floor_lines = "\n".join(
        f"- {'met' if f.met else 'NOT met'}: {f.name} ({f.detail})" for f in floors(points)
    )
    return "\n\n".join([
        header, "### Ratios, ours / peer: throughput (p99 latency)", ratios(points),
        "### Floors", floor_lines or "- not measured", "### All points", table(points),
        generator_line(points), "![throughput and p99 against concurrency](benchmarks.png)",
    ])  # fmt: skip


def write(doc: Path, text: str) -> None:
    """Replace what lies between the markers in ``doc`` (or append a marked section)."""
    block = f"{BEGIN}\n{text}\n{END}"
    old = doc.read_text() if doc.exists() else "# Benchmarks\n\n"
    if BEGIN in old and END in old:
        start, end = old.index(BEGIN), old.index(END) + len(END)
        new = old[:start] + block + old[end:]
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    doc.write_text(new)
