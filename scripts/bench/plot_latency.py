#!/usr/bin/env python3
"""Writes the latency-against-load SVG of BENCHMARKS.md from `msrpc bench --json-out` output: p50
(solid) and p99 (dashed) latency of a 0 B echo call against the calls kept outstanding on one
connection, for the raw framing limit, msrpc's server under the batched raw client, msrpc's own
client and server, and tonic when its rows are there.

usage: scripts/bench/plot_latency.py BENCH.json OUT.svg

Plain SVG written by hand (no plotting library): log2 x axis, log10 y axis.
"""
import json
import math
import sys

W, H = 800, 440
L, R, T, B = 80, 250, 40, 60  # margins

SPEC = [
    ("raw framing limit", "limit", "batched raw client -> raw framing server", "#777777"),
    ("msrpc server, batched raw client", "server", "batched raw client -> msrpc server", "#2ca02c"),
    ("msrpc client -> msrpc server", "async", "msrpc", "#d62728"),
    ("tonic", "tonic", "tonic unary echo, outstanding", "#1f77b4"),
]


def series(rows):
    out = []
    for label, group, name, color in SPEC:
        pts = sorted(
            (r["outstanding"], r["p50_us"], r["p99_us"])
            for r in rows
            if r["group"] == group and r["name"].startswith(name) and r["payload"] == 0
            and r["connections"] == 1 and r["calls"] > 0
            and r.get("p50_us") is not None and r.get("p99_us") is not None
        )
        if pts:
            out.append((label, pts, color))
    return out


def main():
    data = json.load(open(sys.argv[1]))
    s = series(data["rows"])
    if not s:
        sys.exit("no 0 B rows on one connection with latencies in " + sys.argv[1])
    xs = sorted({x for _, pts, _ in s for x, _, _ in pts})
    ys = [y for _, pts, _ in s for _, a, b in pts for y in (a, b)]
    y0 = 10 ** math.floor(math.log10(max(min(ys), 0.1)))
    y1 = 10 ** math.ceil(math.log10(max(ys)))
    x0, x1 = math.log2(min(xs)), math.log2(max(xs))
    px = lambda x: L + (math.log2(x) - x0) / max(x1 - x0, 1) * (W - L - R)
    py = lambda y: H - B - (math.log10(y) - math.log10(y0)) / (math.log10(y1) - math.log10(y0)) * (H - T - B)
    m = data.get("machine", {})
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="22" font-size="14">Latency against load: 0 B echo, one connection, '
         f'loopback, {m.get("cores", "?")} cores, load {m.get("load_1min", "?")}</text>']
    y = y0
    while y <= y1 * 1.0001:
        o.append(f'<line x1="{L}" x2="{W - R}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#e0e0e0"/>')
        o.append(f'<text x="{L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g} µs</text>')
        y *= 10
    for x in xs:
        o.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{T}" y2="{H - B}" stroke="#f0f0f0"/>')
        o.append(f'<text x="{px(x):.1f}" y="{H - B + 18}" text-anchor="middle">{x}</text>')
    o.append(f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="black"/>')
    o.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="black"/>')
    o.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">calls outstanding '
             f'(log scale)</text>')
    o.append(f'<text x="18" y="{(T + H - B) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 18 {(T + H - B) / 2})">latency (log scale)</text>')
    for i, (label, pts, color) in enumerate(s):
        for k, dash in ((1, ""), (2, ' stroke-dasharray="6,4"')):
            d = " ".join(f"{px(p[0]):.1f},{py(p[k]):.1f}" for p in pts)
            o.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
            for p in pts:
                o.append(f'<circle cx="{px(p[0]):.1f}" cy="{py(p[k]):.1f}" r="3" fill="{color}"/>')
        ly = T + 10 + i * 20
        o.append(f'<line x1="{W - R + 10}" x2="{W - R + 40}" y1="{ly}" y2="{ly}" stroke="{color}" '
                 f'stroke-width="2"/>')
        o.append(f'<text x="{W - R + 46}" y="{ly + 4}">{label}</text>')
    ly = T + 10 + len(s) * 20 + 10
    o.append(f'<text x="{W - R + 10}" y="{ly}">solid: p50; dashed: p99</text>')
    o.append("</svg>")
    open(sys.argv[2], "w").write("\n".join(o) + "\n")


if __name__ == "__main__":
    main()
