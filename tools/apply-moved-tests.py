#!/usr/bin/env python3
"""Rewrites test references after tests moved between files.

Reads tools/moved-tests.tsv (one move a line: `old<TAB>new`, each
`tests/file.rs::test_name`; lines starting with `#` are comments) and
rewrites every `old` reference in SPEC-NOTES.md (and README.md and docs/*.md
when present) to `new`. A reference matches only as a whole name, so
`tests/a.rs::foo` never rewrites `tests/a.rs::foo_bar`. Idempotent: run it
again after a merge that brought in more references to the old paths.

Afterwards it lists any `tests/<file>.rs` reference still naming a file
that no longer exists, and exits 1 if there is one.

Usage: python3 tools/apply-moved-tests.py [--check] [FILE...]
  --check  change nothing; exit 1 if a file still holds an old reference.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TSV = ROOT / "tools" / "moved-tests.tsv"


def moves():
    out = []
    for n, line in enumerate(TSV.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        old, new = line.split("\t")
        for ref in (old, new):
            if not re.fullmatch(r"tests/[\w/]+\.rs::\w+", ref):
                sys.exit(f"{TSV}:{n}: not a tests/file.rs::name reference: {ref!r}")
        out.append((old, new))
    return out


def targets(args):
    if args:
        return [pathlib.Path(a) for a in args]
    files = [ROOT / "SPEC-NOTES.md", ROOT / "README.md"]
    files += sorted((ROOT / "docs").glob("**/*.md")) if (ROOT / "docs").is_dir() else []
    return [f for f in files if f.exists()]


def main():
    args = sys.argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    table = moves()
    pattern = re.compile(
        "|".join(re.escape(old) for old, _ in sorted(table, key=lambda m: -len(m[0])))
        + r"(?!\w)"
    )
    mapping = dict(table)
    stale = False
    for path in targets(args):
        text = path.read_text()
        new, count = pattern.subn(lambda m: mapping[m.group(0)], text)
        if count:
            if check:
                print(f"{path.relative_to(ROOT)}: {count} old reference(s)")
                stale = True
            else:
                path.write_text(new)
                print(f"{path.relative_to(ROOT)}: {count} reference(s) rewritten")
        shown = text if check else new
        for m in re.finditer(r"tests/[\w/]+\.rs", shown):
            # `tests/file.rs` is the placeholder SPEC-NOTES.md explains its format with.
            if m.group(0) != "tests/file.rs" and not (ROOT / m.group(0)).exists():
                line = shown.count("\n", 0, m.start()) + 1
                print(f"{path.relative_to(ROOT)}:{line}: {m.group(0)} does not exist")
                stale = True
    sys.exit(1 if stale else 0)


if __name__ == "__main__":
    main()
