#!/usr/bin/env python3
"""Runs clang-tidy (.clang-tidy: bugprone-*, performance-*) on the units under tests/tidy/, with
their flags from the build's compile_commands.json, and fails on any finding in bijgan's headers
or those units. Exits 77 (CTest: skipped) without clang-tidy. CTest test `tidy`.

  tools/tidy.py <build dir> [<source dir>]
"""
import json
import pathlib
import shutil
import subprocess
import sys
import time


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    build = pathlib.Path(sys.argv[1]).resolve()
    source = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else pathlib.Path(__file__).resolve().parent.parent).resolve()
    tool = shutil.which("clang-tidy") or shutil.which("clang-tidy-14")
    if tool is None:
        print("tidy: skipped, clang-tidy is not installed (apt-get install clang-tidy)")
        return 77
    db = build / "compile_commands.json"
    if not db.exists():
        print(f"tidy: {db} is missing (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON, as the presets do)")
        return 2
    units = sorted({e["file"] for e in json.loads(db.read_text()) if "/tests/tidy/" in e["file"]})
    if not units:
        print("tidy: no units under tests/tidy/ in compile_commands.json")
        return 2
    status = 0
    for unit in units:
        start = time.monotonic()
        run = subprocess.run([tool, "--quiet", "-p", str(build), unit], cwd=source, capture_output=True, text=True)
        findings = [l for l in run.stdout.splitlines() if ": error:" in l or ": warning:" in l]
        print(run.stdout, end="")
        rel = pathlib.Path(unit).relative_to(source)
        print(f"tidy: {rel}: {len(findings)} finding(s), {time.monotonic() - start:.0f} s")
        if run.returncode != 0:
            if not findings:
                print(run.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
