"""Draw docs/relay-bench.svg from docs/relay-bench.json (no dependencies).

The JSON is a list of ``hushroom bench fanout --json`` results, one per
listener count.  Run: python docs/relay_bench_plot.py
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
W, H = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 190, 40, 60
SERIES = [
    ("audience_p99_ms", "audience p99", "#d62728", ""),
    ("audience_p50_ms", "audience p50", "#d62728", "6,4"),
    ("stage_p99_ms", "stage p99", "#1f77b4", ""),
    ("stage_p50_ms", "stage p50", "#1f77b4", "6,4"),
]
GOALS = [(300, "audience goal 300 ms", "#d62728"), (50, "stage goal 50 ms", "#1f77b4")]


def main() -> None:
    rows = sorted(json.loads((HERE / "relay-bench.json").read_text()), key=lambda r: r["listeners"])
    xs = [r["listeners"] for r in rows]
    ymax = max(350.0, max(r["audience_p99_ms"] for r in rows) * 1.1)
    xmax = max(xs) * 1.05
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + pw * x / xmax

    def py(y: float) -> float:
        return TOP + ph * (1 - y / ymax)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14">hushroom relay fan-out: 4 speakers, '
        "TLS 1.3 links, 2-core machine (latency vs listeners)</text>",
        f'<line x1="{LEFT}" y1="{TOP + ph}" x2="{LEFT + pw}" y2="{TOP + ph}" stroke="black"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}" stroke="black"/>',
    ]
    step = 50 if ymax <= 400 else 100
    for y in range(0, int(ymax) + 1, step):
        out.append(
            f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + pw}" y2="{py(y):.1f}" stroke="#eee"/>'
        )
        out.append(f'<text x="{LEFT - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{y}</text>')
    for x in xs:
        out.append(f'<text x="{px(x):.1f}" y="{TOP + ph + 18}" text-anchor="middle">{x}</text>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 18}" text-anchor="middle">listeners</text>')
    out.append(
        f'<text x="18" y="{TOP + ph / 2}" transform="rotate(-90 18 {TOP + ph / 2})" '
        'text-anchor="middle">latency (ms)</text>'
    )
    for value, label, color in GOALS:
        out.append(
            f'<line x1="{LEFT}" y1="{py(value):.1f}" x2="{LEFT + pw}" y2="{py(value):.1f}" '
            f'stroke="{color}" stroke-opacity="0.4" stroke-dasharray="2,3"/>'
        )
        out.append(
            f'<text x="{LEFT + pw + 6}" y="{py(value) + 4:.1f}" fill="{color}">{label}</text>'
        )
    for i, (key, label, color, dash) in enumerate(SERIES):
        pts = " ".join(f"{px(r['listeners']):.1f},{py(r[key]):.1f}" for r in rows)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"{dash_attr}/>'
        )
        for r in rows:
            out.append(
                f'<circle cx="{px(r["listeners"]):.1f}" cy="{py(r[key]):.1f}" r="3" '
                f'fill="{color}"/>'
            )
        ly = TOP + 60 + 20 * i
        out.append(
            f'<line x1="{LEFT + pw + 6}" y1="{ly}" x2="{LEFT + pw + 36}" y2="{ly}" '
            f'stroke="{color}" stroke-width="2"{dash_attr}/>'
        )
        out.append(f'<text x="{LEFT + pw + 42}" y="{ly + 4}">{label}</text>')
    out.append("</svg>")
    (HERE / "relay-bench.svg").write_text("\n".join(out) + "\n")
    print(f"wrote {HERE / 'relay-bench.svg'}")


if __name__ == "__main__":
    main()
