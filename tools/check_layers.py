#!/usr/bin/env python3
"""Checks that include/bijgan is layered one way (README "Layout", docs/concepts.md "Layers").

Every folder of include/bijgan has a layer, bottom to top. A header may include headers of its
own folder and of folders in lower layers; folders that share a layer do not include each other.
The root headers are fwd.hpp (bottom) and the umbrella bijgan.hpp (top). Prints each include
that breaks the order (file, line, the two layers) and exits 1; a folder missing from LAYERS is
an error too, so a new folder must be placed. Run by CTest (test `layers`).
"""
import pathlib
import re
import sys

LAYERS = [
    ["config", "detail", "fwd.hpp"],
    ["backend"],  # the seam: its concept, kernel argument types (shape, ...), host, cuda
    ["tensor"],
    ["autodiff"],
    ["ops"],
    ["linalg"],
    ["nn"],
    ["concepts", "flows", "optim", "io"],
    ["distances", "models", "data"],
    ["losses", "engines", "eval", "dist"],
    ["train", "testing"],
    ["bijgan.hpp"],
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]bijgan/([^">]+)[">]')


def unit(relative: str) -> str:
    """The folder a header belongs to, or the file name of a root header."""
    return relative.split("/", 1)[0]


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".") / "include" / "bijgan"
    if not root.is_dir():
        print(f"check_layers: no {root}", file=sys.stderr)
        return 2
    problems = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix not in {".hpp", ".h", ".cuh"}:
            continue
        rel = path.relative_to(root).as_posix()
        src = unit(rel)
        if src not in RANK:
            problems.append(f"{rel}: folder '{src}' has no layer in tools/check_layers.py")
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            dst = unit(m.group(1))
            if dst == src:
                continue
            if dst not in RANK:
                problems.append(f"{rel}:{number}: includes '{m.group(1)}', whose folder has no layer")
            elif RANK[dst] >= RANK[src]:
                how = "a higher" if RANK[dst] > RANK[src] else "the same"
                problems.append(f"{rel}:{number}: {src} (layer {RANK[src]}) includes {m.group(1)}, "
                                f"in {how} layer ({dst}, layer {RANK[dst]})")
    for p in problems:
        print(p)
    print(f"check_layers: {len(problems)} include(s) against the layer order")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
