"""Differential check for lint speed work: dump every finding on the test corpora, or compare two dumps.

    python bench/lint_findings.py dump before.json     # on the old code
    python bench/lint_findings.py dump after.json      # on the new code
    python bench/lint_findings.py compare before.json after.json

The files: every .py under tests/lint_cases, tests/lint_corpus, tests/fixtures and
tests/convert_corpus; every form of every example of the lock corpus
(tests/lock_corpus.py); 200 files of bench/generate.py's legacy template. Each is
linted with every rule selected (opt-in rules too) under two settings (the
defaults; PostgreSQL 11 with no lock timeout configured). A finding is the whole
`Violation` (path, position, code, severity, message, hint, end line, table);
the dumps are compared as sets. Exit status 1 when they differ.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "bench"))

TREES = ("tests/lint_cases", "tests/lint_corpus", "tests/fixtures", "tests/convert_corpus")


def _settings():
    from bridge.lint import LintSettings
    from bridge.lint.rules.catalog import RULES

    select = ("ALL", *(r.code for r in RULES if not r.default_enabled))
    return {
        "default": LintSettings(select=select),
        "pg11-no-timeout": LintSettings(select=select, postgres_version=11).with_rules(lock_timeout_configured=False),
    }


def findings() -> list[list]:
    import generate
    import lock_corpus

    from bridge.lint import lint_source

    sources: list[tuple[str, str]] = []
    for tree in TREES:
        for path in sorted((REPO / tree).rglob("*.py")):
            sources.append((str(path.relative_to(REPO)), path.read_text(encoding="utf-8", errors="replace")))
    for example in lock_corpus.load():
        for form, source in lock_corpus.forms(example).items():
            name = "20251031_corpus.py" if form == "legacy" else "3f2a1b9c0d4e_corpus.py"
            sources.append((f"lock_corpus/{example.name}/{form}/{name}", source))
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate.write_legacy_files(Path(tmp), 200):
            sources.append((f"generated/{path.name}", path.read_text(encoding="utf-8")))
    rows = []
    for label, settings in _settings().items():
        for path, source in sources:
            for v in lint_source(source, path, settings):
                rows.append([label, v.path, v.line, v.col, v.code, v.severity, v.message, v.hint, v.end_line, v.table])
    print(f"{len(sources)} files x {len(_settings())} settings: {len(rows)} findings", file=sys.stderr)
    return rows


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "dump":
        Path(argv[1]).write_text(json.dumps(findings(), indent=0), encoding="utf-8")
        return 0
    if len(argv) == 3 and argv[0] == "compare":
        before, after = ({tuple(r) for r in json.loads(Path(p).read_text(encoding="utf-8"))} for p in argv[1:])
        for row in sorted(before - after, key=str):
            print("only before:", row)
        for row in sorted(after - before, key=str):
            print("only after: ", row)
        print(f"before {len(before)}, after {len(after)}, differing {len(before ^ after)}")
        return 1 if before != after else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
