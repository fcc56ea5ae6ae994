#!/usr/bin/env python3
"""Writes the SVG plot of BENCHMARKS.md from `msrpc bench --json-out` output: calls per second against
calls outstanding, for msrpc (its client, and the batched raw client against its server), tonic and
the raw framing limit, on one connection and over several.

usage: scripts/bench/plot.py BENCH.json OUT.svg

Plain SVG written by hand (no plotting library): log2 x axis, linear y axis.
"""
import json
import math
import sys

W, H = 800, 440
L, R, T, B = 80, 240, 40, 60  # margins


def series(rows):
    out = {}
    spec = [
        ("raw framing limit, 1 connection", "limit", "batched raw client -> raw framing server", 1, "#777777", "6,4"),
        ("raw framing limit, {n} connections", "limit", "batched raw client -> raw framing server", "n", "#777777", ""),
        ("msrpc server, batched client, 1 conn.", "server", "batched raw client -> msrpc server", 1, "#2ca02c", "6,4"),
        ("msrpc server, batched client, {n} conns", "server", "batched raw client -> msrpc server", "n", "#2ca02c", ""),
        ("msrpc, 1 connection", "async", "msrpc", 1, "#d62728", "6,4"),
        ("msrpc, {n} connections", "async", "msrpc", "n", "#d62728", ""),
        ("tonic, 1 connection", "tonic", "tonic unary echo, outstanding", 1, "#1f77b4", "6,4"),
        ("tonic, {n} connections", "tonic", "tonic unary echo, outstanding", "n", "#1f77b4", ""),
    ]
    multi = max((r["connections"] for r in rows if r["group"] == "async"), default=1)
    for label, group, name, conns, color, dash in spec:
        c = multi if conns == "n" else conns
        if conns == "n" and multi <= 1:
            continue
        pts = sorted(
            (r["outstanding"], r["calls_per_s"])
            for r in rows
            if r["group"] == group and r["name"].startswith(name) and r["payload"] == 0
            and r["connections"] == c and r["calls"] > 0
        )
        # For 1 outstanding, the one-connection point stands for both.
        if pts:
            out[label.format(n=c)] = (pts, color, dash)
    return out


def main():
    data = json.load(open(sys.argv[1]))
    s = series(data["rows"])
    xs = sorted({x for pts, _, _ in s.values() for x, _ in pts})
    ymax = max(y for pts, _, _ in s.values() for _, y in pts)
    step = 10 ** math.floor(math.log10(ymax))
    for m in (1, 2, 5, 10):
        if ymax <= m * step * 5:
            step = m * step
            break
    ytop = math.ceil(ymax / step) * step
    x0, x1 = math.log2(min(xs)), math.log2(max(xs))
    px = lambda x: L + (math.log2(x) - x0) / max(x1 - x0, 1) * (W - L - R)
    py = lambda y: H - B - y / ytop * (H - T - B)
    o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
         f'font-family="sans-serif" font-size="12">',
         f'<rect width="{W}" height="{H}" fill="white"/>',
         f'<text x="{L}" y="22" font-size="14">Calls per second against calls outstanding '
         f'(0 B echo, loopback, {data["machine"].get("cores", "?")} cores)</text>']
    y = 0
    while y <= ytop:
        o.append(f'<line x1="{L}" x2="{W - R}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#e0e0e0"/>')
        o.append(f'<text x="{L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y / 1000:g}k</text>')
        y += step
    for x in xs:
        o.append(f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{T}" y2="{H - B}" stroke="#f0f0f0"/>')
        o.append(f'<text x="{px(x):.1f}" y="{H - B + 18}" text-anchor="middle">{x}</text>')
    o.append(f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="black"/>')
    o.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="black"/>')
    o.append(f'<text x="{(L + W - R) / 2}" y="{H - 18}" text-anchor="middle">calls outstanding (log scale)</text>')
    o.append(f'<text x="18" y="{(T + H - B) / 2}" text-anchor="middle" '
             f'transform="rotate(-90 18 {(T + H - B) / 2})">calls per second</text>')
    for i, (label, (pts, color, dash)) in enumerate(s.items()):
        d = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in pts)
        da = f' stroke-dasharray="{dash}"' if dash else ""
        o.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="2"{da}/>')
        for x, y in pts:
            o.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{color}"/>')
        ly = T + 10 + i * 20
        o.append(f'<line x1="{W - R + 10}" x2="{W - R + 40}" y1="{ly}" y2="{ly}" stroke="{color}" '
                 f'stroke-width="2"{da}/>')
        o.append(f'<text x="{W - R + 46}" y="{ly + 4}">{label}</text>')
    o.append("</svg>")
    open(sys.argv[2], "w").write("\n".join(o) + "\n")


if __name__ == "__main__":
    main()
