#!/usr/bin/env python3
"""Writes the IDL of a Microsoft Open Specification's "Appendix A: Full IDL" to .idl files.

Input: the Markdown conversion of the specifications in github.com/awakecoding/openspecs
(skills/windows-protocols/MS-XXXX/MS-XXXX.md). The conversion leaves artefacts that are not
IDL, and this script removes exactly those, nothing else:

- the blank line it puts between every two lines of the listing (runs of blank lines become none);
- HTML anchors (`<a id="Section_6"></a>`) and Markdown headings (`## 6.1 Appendix A.1: ATSvc.idl`);
- the prose paragraphs before the listing ("For ease of implementation, ...", "**Note** ...",
  "The syntax uses ...", and any line carrying a Markdown link such as `[**IDL**](#gt_...)`
  or `[MS-RPCE](../MS-RPCE/MS-RPCE.md)`, which IDL never has);
- a `- ` list-item prefix the converter put on some lines of the listing.

Usage: openspecs-idl.py SPEC.md OUT.idl [OUT2.idl ...]
An appendix with several listings (MS-TSCH: A.1, A.2, A.3) is split at its `##` headings, one
output file per listing, in order.
"""

import re
import sys

PROSE = ("For ease of implementation", "**Note**", "The syntax uses")
MD_LINK = re.compile(r"\]\((#|\.\./)")


def appendix_lines(text):
    out, inside = [], False
    for line in text.splitlines():
        if re.match(r"^# \d+ Appendix A", line):
            inside = True
            continue
        if inside and re.match(r"^# \d+ ", line):
            break
        if inside:
            out.append(line)
    if not out:
        sys.exit("no 'Appendix A' section found")
    return out


def listings(lines):
    parts, cur = [], []
    for line in lines:
        if line.startswith("## "):
            if clean(cur):
                parts.append(cur)
            cur = []
            continue
        cur.append(line)
    if clean(cur):
        parts.append(cur)
    return parts


def clean(lines):
    out = []
    for line in lines:
        s = line.rstrip()
        if not s.strip():
            continue
        if re.fullmatch(r"\s*<a id=\"[^\"]*\"></a>\s*", s):
            continue
        if s.startswith(PROSE) or MD_LINK.search(s):
            continue
        if s.startswith("- "):
            s = s[2:]
        out.append(s)
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    spec, outs = sys.argv[1], sys.argv[2:]
    name = spec.rsplit("/", 1)[-1].removesuffix(".md")
    with open(spec, encoding="utf-8") as f:
        parts = listings(appendix_lines(f.read()))
    if len(parts) != len(outs):
        sys.exit(f"{name}: {len(parts)} listings in Appendix A, {len(outs)} output files given")
    for i, (part, out) in enumerate(zip(parts, outs)):
        which = f" (listing {i + 1} of {len(parts)})" if len(parts) > 1 else ""
        header = [
            f"// [{name}] Appendix A: Full IDL{which}, transcribed from the Microsoft Open Specifications",
            "// (Markdown conversion in github.com/awakecoding/openspecs) by scripts/openspecs-idl.py, which",
            "// removed only the conversion's artefacts (blank lines, HTML anchors, headings, prose, `- `).",
            "",
        ]
        with open(out, "w", encoding="utf-8") as f:
            f.write("\n".join(header + clean(part)) + "\n")


if __name__ == "__main__":
    main()
