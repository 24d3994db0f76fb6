#!/usr/bin/env python3
"""Checks that every C++ and CUDA file of the project matches .clang-format (clang-format 14,
Debian 12's). Prints the files that differ and exits 1; exits 77 (CTest: skipped) when
clang-format is not installed. Fix with: clang-format -i <files> (or git clang-format).
Run by CTest (test `format`).
"""
import pathlib
import shutil
import subprocess
import sys

FOLDERS = ["include", "src", "tests", "examples", "bench"]
SUFFIXES = {".hpp", ".cpp", ".h", ".cu", ".cuh"}


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    tool = shutil.which("clang-format") or shutil.which("clang-format-14")
    if tool is None:
        print("check_format: skipped, clang-format is not installed (apt-get install clang-format)")
        return 77
    files = sorted(p for folder in FOLDERS for p in (root / folder).rglob("*")
                   if p.is_file() and p.suffix in SUFFIXES)
    differ = []
    for i in range(0, len(files), 64):
        chunk = files[i:i + 64]
        run = subprocess.run([tool, "--dry-run", "--style=file", *map(str, chunk)],
                             cwd=root, capture_output=True, text=True)
        if run.returncode != 0 and not run.stderr:
            print(f"check_format: {tool} failed ({run.returncode})", file=sys.stderr)
            return 2
        for line in run.stderr.splitlines():  # "<file>:<line>:<col>: warning: code should be clang-formatted"
            if "code should be clang-formatted" in line:
                name = line.split(":", 1)[0]
                if name not in differ:
                    differ.append(name)
    for name in differ:
        print(f"{pathlib.Path(name).resolve().relative_to(root)}: differs from .clang-format")
    print(f"check_format: {len(differ)} of {len(files)} files differ ({tool})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
