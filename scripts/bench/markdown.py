#!/usr/bin/env python3
"""Prints `msrpc bench --json-out` output (one file or more, e.g. the main run and the Samba run) as the
Markdown tables of BENCHMARKS.md.

usage: scripts/bench/markdown.py BENCH.json [SAMBA.json ...]
"""
import json
import sys


def size(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n >> 10} KiB"
    return f"{n} B"


def num(v, p=1):
    return "-" if v is None else f"{v:,.{p}f}"


def main():
    docs = [json.load(open(f)) for f in sys.argv[1:]]
    m = docs[0]["machine"]
    print(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
          f"{m['build']} build, load {m.get('load_1min', '?')} at the end; {docs[0]['row_seconds']:g} s a row.\n")
    print("| group | benchmark | payload | outstanding | conns | calls | calls/s | MiB/s | p50 µs | p99 µs |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    seen = set()
    mem = []
    for d in docs:
        for r in d["rows"]:
            key = (r["group"], r["name"], r["payload"], r["outstanding"], r["connections"])
            if key in seen:
                continue
            seen.add(key)
            if r["group"] == "memory":
                mem.append(r)
                continue
            print(f"| {r['group']} | {r['name']} | {size(r['payload'])} | {r['outstanding'] or ''} | "
                  f"{r['connections'] or ''} | {r['calls']:,} | {num(r['calls_per_s'], 0)} | "
                  f"{num(r['mib_per_s']) if r['bytes'] else '-'} | {num(r['p50_us'])} | {num(r['p99_us'])} |")
    if mem:
        print("\n| memory | items | heap bytes each | RSS bytes each | how |")
        print("|---|---|---|---|---|")
        for r in mem:
            print(f"| {r['name']} | {r['calls']:,} | {num(r['heap_bytes_each'], 0)} | "
                  f"{num(r['rss_bytes_each'], 0)} | {r['note']} |")
    print("\n| target | goal | measured | verdict | detail |")
    print("|---|---|---|---|---|")
    for d in docs:
        for t in d["targets"]:
            if t["met"] is None:
                continue
            v = "met" if t["met"] else "**not met**"
            print(f"| {t['what']} | {t['goal']} | {num(t['measured'], 2)} | {v} | {t['detail']} |")


if __name__ == "__main__":
    main()
