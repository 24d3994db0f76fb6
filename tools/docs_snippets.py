#!/usr/bin/env python3
"""Keeps code in README.md and docs/*.md identical to the compiled examples.

A block in markdown written as
    <!-- snippet: examples/quickstart.cpp#quickstart -->
    ```cpp
    ...
    ```
is replaced by the lines between the two `// [docs:quickstart]` markers of that file
(dedented). `--check` reports blocks that differ and exits 1 (a CTest test runs it);
without it the markdown files are rewritten.
"""
import pathlib
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- snippet: (?P<file>[^#\s]+)#(?P<name>[\w-]+) -->\n```(?P<lang>\w*)\n)(?P<body>.*?)(```)", re.S)


def region(file: str, name: str) -> str:
    text = (ROOT / file).read_text()
    marker = re.compile(r"^[ \t]*(//|#) \[docs:" + re.escape(name) + r"\][ \t]*$", re.M)
    hits = list(marker.finditer(text))
    if len(hits) != 2:
        sys.exit(f"{file}: expected two [docs:{name}] markers, found {len(hits)}")
    body = text[hits[0].end() + 1 : hits[1].start()]
    return textwrap.dedent(body)


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = md.read_text()
        new = BLOCK.sub(lambda m: m.group(1) + region(m.group("file"), m.group("name")) + m.group(6), text)
        if new != text:
            stale.append(md.relative_to(ROOT))
            if not check:
                md.write_text(new)
    if check and stale:
        print("code blocks differ from the examples in: " + ", ".join(map(str, stale)) + " (run tools/docs_snippets.py)")
        return 1
    print("docs snippets: " + ("all in sync" if check else f"updated {len(stale)} file(s)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
