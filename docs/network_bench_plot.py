"""Draw docs/network-bench.svg from docs/network-bench.jsonl (no dependencies).

The JSONL is the output of ``hushroom bench network --json``: one row per
(case, transport).  The plot shows the stage listener's wideband PESQ
against random loss, one line per transport; the 3 % bursty case is a
marker of the same colour.  Run: python docs/network_bench_plot.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT, MARGIN, PLOT_W, PLOT_H = 640, 380, 60, 400, 260
TRANSPORTS = {"tls": ("#1f77b4", "TLS link"), "udp": ("#d62728", "datagrams")}
PESQ_RANGE = (1.0, 4.5)
LOSS_MAX = 10.0


def point(loss: float, pesq: float) -> tuple[float, float]:
    low, high = PESQ_RANGE
    return MARGIN + loss / LOSS_MAX * PLOT_W, MARGIN + (high - pesq) / (high - low) * PLOT_H


def num(row: dict[str, object], key: str) -> float:
    value = row[key]
    assert isinstance(value, int | float)
    return float(value)


def svg(rows: list[dict[str, object]]) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{MARGIN}" y="24" font-size="14">Stage listener: wideband PESQ against '
        "random loss (50 ± 10 ms one way)</text>",
        f'<rect x="{MARGIN}" y="{MARGIN}" width="{PLOT_W}" height="{PLOT_H}" fill="none" '
        'stroke="#999"/>',
    ]
    for loss in (0, 2, 5, 10):
        px, _ = point(loss, PESQ_RANGE[0])
        parts.append(
            f'<text x="{px}" y="{MARGIN + PLOT_H + 16}" text-anchor="middle">{loss}</text>'
        )
    for pesq in (1.0, 2.0, 3.0, 4.0):
        _, py = point(0, pesq)
        parts.append(f'<text x="{MARGIN - 6}" y="{py + 4}" text-anchor="end">{pesq:.1f}</text>')
    parts.append(
        f'<text x="{MARGIN + PLOT_W / 2}" y="{MARGIN + PLOT_H + 36}" text-anchor="middle">'
        "random packet loss on the listener's link (%)</text>"
    )
    for i, (transport, (colour, label)) in enumerate(TRANSPORTS.items()):
        mine = [r for r in rows if r["transport"] == transport]
        line = sorted((num(r, "loss_pct"), num(r, "pesq")) for r in mine if not r["bursty"])
        points = " ".join("{:.1f},{:.1f}".format(*point(a, b)) for a, b in line)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
        )
        for r in mine:
            if r["bursty"]:
                bx, by = point(num(r, "loss_pct"), num(r, "pesq"))
                parts.append(
                    f'<rect x="{bx - 4}" y="{by - 4}" width="8" height="8" fill="{colour}"/>'
                )
        ly = MARGIN + 10 + 20 * i
        parts.append(
            f'<line x1="{MARGIN + PLOT_W + 12}" y1="{ly}" x2="{MARGIN + PLOT_W + 36}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"/>'
            f'<text x="{MARGIN + PLOT_W + 40}" y="{ly + 4}">{label}</text>'
        )
    parts.append(
        f'<text x="{MARGIN + PLOT_W + 12}" y="{MARGIN + 60}">squares: 3 % bursty loss</text></svg>'
    )
    return "\n".join(parts) + "\n"


def main() -> None:
    lines = (HERE / "network-bench.jsonl").read_text().splitlines()
    (HERE / "network-bench.svg").write_text(svg([json.loads(line) for line in lines]))


if __name__ == "__main__":
    main()
