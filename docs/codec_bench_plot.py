"""Draw docs/codec-bench.svg from docs/codec-bench.jsonl (no dependencies).

The JSONL is the output of ``hushroom bench codec --json``: one row per case.
The plot shows wideband PESQ against random packet loss, one line per
(bit rate, expected-loss setting).  Run: python docs/codec_bench_plot.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
W, H = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 60, 210, 40, 60
COLOURS = {24_000: "#1f77b4", 32_000: "#2ca02c", 38_000: "#d62728", 48_000: "#9467bd"}
DASHES = {0: "", 5: "6,4", 10: "2,3"}


def main() -> None:
    rows = [json.loads(line) for line in (HERE / "codec-bench.jsonl").read_text().splitlines()]
    rows = [r for r in rows if not r["bursty"] and r["bitrate"] in COLOURS]
    xmax, ymin, ymax = 10.0, 1.0, 4.5
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(v: float) -> float:
        return LEFT + v / xmax * pw

    def y(v: float) -> float:
        return TOP + (ymax - v) / (ymax - ymin) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="20" font-size="14">Wideband PESQ against random loss '
        "(espeak-ng speech, codec only)</text>",
    ]
    for tick in range(0, 11, 2):
        out.append(
            f'<line x1="{x(tick)}" y1="{TOP}" x2="{x(tick)}" y2="{TOP + ph}" stroke="#eee"/>'
        )
        out.append(f'<text x="{x(tick)}" y="{TOP + ph + 16}" text-anchor="middle">{tick}</text>')
    for tick in (1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5):
        out.append(
            f'<line x1="{LEFT}" y1="{y(tick)}" x2="{LEFT + pw}" y2="{y(tick)}" stroke="#eee"/>'
        )
        out.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4}" text-anchor="end">{tick:.1f}</text>')
    out.append(
        f'<text x="{LEFT + pw / 2}" y="{H - 20}" text-anchor="middle">random packet loss (%)</text>'
    )
    legend_y = TOP
    for bitrate, colour in COLOURS.items():
        for expected, dash in DASHES.items():
            line = sorted(
                (r["loss_pct"], r["pesq"])
                for r in rows
                if r["bitrate"] == bitrate and r["expected_loss_pct"] == expected
            )
            if not line:
                continue
            points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in line)
            out.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2" stroke-dasharray="{dash}"/>'
            )
            lx = LEFT + pw + 15
            out.append(
                f'<line x1="{lx}" y1="{legend_y}" x2="{lx + 30}" y2="{legend_y}" '
                f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}"/>'
            )
            label = f"{bitrate // 1000} kbit/s, " + (
                "no FEC" if expected == 0 else f"FEC for {expected} %"
            )
            out.append(f'<text x="{lx + 36}" y="{legend_y + 4}">{label}</text>')
            legend_y += 18
    out.append("</svg>")
    (HERE / "codec-bench.svg").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
