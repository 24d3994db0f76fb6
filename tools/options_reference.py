#!/usr/bin/env python3
"""Writes docs/options.md, the reference of every options aggregate in include/bijgan (each
`struct *_options`: its fields, types, defaults and their `///` comments), from the headers.

  tools/options_reference.py --write   regenerate docs/options.md
  tools/options_reference.py --check   exit 1 (and print what differs) when docs/options.md is not
                                       what the headers say; the CTest test `options_reference`

The headers are the source: a field added, renamed or given another default changes the table,
and CI fails until the reference is regenerated. Parsing assumes the project's style (one member
per statement or `double a = 0, b = 1;`, `///` above or `///<` after a member, namespaces closed
with `}  // namespace name`).
"""
import difflib
import pathlib
import re
import sys

STRUCT = re.compile(r"^(\s*)struct\s+(\w+_options)\s*(?:final\s*)?\{\s*$")
NAMESPACE_OPEN = re.compile(r"^\s*namespace\s+([\w:]+)\s*\{")
NAMESPACE_CLOSE = re.compile(r"^\s*\}\s*//\s*namespace")
SKIP_PREFIXES = ("static ", "using ", "friend ", "template", "enum ", "struct ", "class ", "typedef ")


def strip_comment(line: str):
    """Returns (code, trailing ///< text or None); drops other // comments."""
    m = re.search(r"///<\s?(.*)$", line)
    trailing = m.group(1).strip() if m else None
    code = re.sub(r"//.*$", "", line)
    return code, trailing


def split_top(text: str, sep: str):
    """Splits at sep where (), {}, [] are balanced."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "({[":
            depth += 1
        elif ch in ")}]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def declarators(statement: str):
    """[(type, name, default)] of one member declaration, or [] for what is not a data member."""
    s = re.sub(r"\[\[[^\]]*\]\]", "", statement).strip()
    if not s or s.startswith(SKIP_PREFIXES) or s.startswith("~"):
        return []
    # The first '=' or '{' outside <> and () ends the type and the first name.
    angle = paren = 0
    cut = len(s)
    for i, ch in enumerate(s):
        if ch == "<":
            angle += 1
        elif ch == ">":
            angle -= 1
        elif ch == "(":
            paren += 1
        elif ch == ")":
            paren -= 1
        elif ch in "={" and angle == 0 and paren == 0:
            cut = i
            break
    prefix, rest = s[:cut].rstrip(), s[cut:]
    if "(" in prefix:  # a function declaration
        return []
    m = re.match(r"^(.*?[\w>*&\]])\s+(\w+)$", prefix)
    if not m:
        return []
    out = []
    type_, name = m.group(1).strip(), m.group(2)
    pieces = split_top(rest, ",") if rest else [""]
    first = pieces[0]
    out.append((type_, name, initial(first)))
    for extra in pieces[1:]:
        mm = re.match(r"^\s*(\w+)\s*(.*)$", extra, re.S)
        if mm:
            out.append((type_, mm.group(1), initial(mm.group(2))))
    return out


def initial(init: str) -> str:
    init = " ".join(init.split())
    if not init:
        return "(default-constructed)"
    if init.startswith("="):
        return init[1:].strip()
    return init  # brace initialiser


def parse_struct(lines, start, indent):
    """Fields of the struct whose body starts after lines[start]: [(type, name, default, doc)]."""
    fields, doc, stmt, stmt_trailing, depth = [], [], [], None, 0
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if depth == 0 and re.match(r"^" + indent + r"\};", line):
            return fields, i
        stripped = line.strip()
        if depth == 0 and not stmt and stripped.startswith("///") and not stripped.startswith("///<"):
            doc.append(stripped[3:].strip())
            i += 1
            continue
        code, trailing = strip_comment(line)
        if trailing is not None:
            stmt_trailing = trailing if stmt_trailing is None else stmt_trailing + " " + trailing
        for ch in code:
            if ch in "{(":
                depth += 1
            elif ch in "})":
                depth -= 1
            stmt.append(ch)
            if depth == 0 and ch == ";":
                text = "".join(stmt)
                for type_, name, default in declarators(text.rstrip(";")):
                    words = " ".join(doc + ([stmt_trailing] if stmt_trailing else []))
                    fields.append((type_, name, default, words))
                stmt, doc, stmt_trailing = [], [], None
            elif depth == 0 and ch == "}" and "(" in "".join(stmt):
                stmt, doc, stmt_trailing = [], [], None  # an inline member function's body ended
        if not stmt or not "".join(stmt).strip():
            stmt = []
        else:
            stmt.append(" ")
        i += 1
    raise SystemExit(f"options_reference: no end of struct starting at line {start + 1}")


def cell(text: str) -> str:
    return text.replace("|", "\\|")


def collect(root: pathlib.Path):
    entries = []
    for path in sorted((root / "include" / "bijgan").rglob("*.hpp")):
        rel = path.relative_to(root / "include" / "bijgan").as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        namespaces = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if (m := NAMESPACE_OPEN.match(line)) and not line.rstrip().endswith("}"):
                namespaces.append(m.group(1))
            elif NAMESPACE_CLOSE.match(line) and namespaces:
                namespaces.pop()
            m = STRUCT.match(line)
            if m:
                doc, j = [], i - 1
                template = None
                if j >= 0 and lines[j].strip().startswith("template"):
                    template = lines[j].strip()
                    j -= 1
                while j >= 0 and lines[j].strip().startswith("///"):
                    doc.insert(0, lines[j].strip()[3:].strip())
                    j -= 1
                fields, end = parse_struct(lines, i, m.group(1))
                qual = "::".join(n for n in namespaces if n != "detail")
                name = f"{qual}::{m.group(2)}" if qual else m.group(2)
                entries.append((name, rel, template, " ".join(doc), fields))
                i = end
            i += 1
    return entries


def render(entries) -> str:
    out = [
        "# Options reference",
        "",
        "Every options aggregate of the library, with its fields, their defaults and what the header",
        "says of them. Generated from the headers by `tools/options_reference.py --write`; the CTest",
        "test `options_reference` fails when this file and the headers disagree. Pass options as",
        "designated initialisers (`nn::linear({.in = 128, .out = 256, .bias = false})`); a field you",
        "leave out keeps the default below.",
        "",
    ]
    for name, rel, template, doc, fields in entries:
        out.append(f"## `{name}`")
        out.append("")
        where = f"`bijgan/{rel}`" + (f" (`{template}`)" if template else "")
        out.append(where + (". " + doc if doc else ""))
        out.append("")
        if not fields:
            out.append("No fields.")
            out.append("")
            continue
        out.append("| field | type | default | meaning |")
        out.append("|---|---|---|---|")
        for type_, field, default, words in fields:
            out.append(f"| `{field}` | `{cell(type_)}` | `{cell(default)}` | {cell(words)} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in {"--write", "--check"}:
        print(__doc__)
        return 2
    root = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else pathlib.Path(__file__).resolve().parent.parent)
    target = root / "docs" / "options.md"
    text = render(collect(root))
    if sys.argv[1] == "--write":
        target.write_text(text, encoding="utf-8")
        print(f"options_reference: wrote {target} ({text.count('## ')} option structs)")
        return 0
    have = target.read_text(encoding="utf-8") if target.exists() else ""
    if have == text:
        print(f"options_reference: docs/options.md matches the headers ({text.count('## ')} option structs)")
        return 0
    diff = difflib.unified_diff(have.splitlines(), text.splitlines(), "docs/options.md", "from the headers", lineterm="")
    print("\n".join(list(diff)[:80]))
    print("options_reference: docs/options.md is out of date; run tools/options_reference.py --write")
    return 1


if __name__ == "__main__":
    sys.exit(main())
