"""docs/lint-rules.md, generated: the prose of bridge/templates/lint-rules.md.tmpl, then each rule."""

from __future__ import annotations

from .rules.catalog import ERROR, RULES, WARNING, Rule

TEMPLATE = "lint-rules.md.tmpl"


def _anchor(rule: Rule) -> str:
    return f"{rule.code.lower()}-{rule.name}"


def _severity(rule: Rule) -> str:
    severity = rule.severity
    if rule.tenant_severity is not None:
        severity = f"{severity}, {rule.tenant_severity} with tenant schemas"
    return severity if rule.default_enabled else f"{severity}, off by default"


def render_rule(rule: Rule) -> str:
    """Return the Markdown section documenting one rule."""
    lines = [f"### {rule.code} {rule.name}", "", f"*Severity: {_severity(rule)}.* {rule.summary}.", ""]
    lines += [rule.explanation, "", f"Hint shown: {rule.hint}.", ""]
    if rule.bad == rule.good:
        lines += [f"Bad: a file named `{rule.bad_filename}`.", "", f"Good: `{rule.good_filename}`.", ""]
        return "\n".join(lines)
    for label, filename, code in (("Bad", rule.bad_filename, rule.bad), ("Good", rule.good_filename, rule.good)):
        lines += [f"{label} (`{filename}`):", "", "```python", code.rstrip("\n"), "```", ""]
    return "\n".join(lines)


def render_docs() -> str:
    """Return docs/lint-rules.md, generated from the rule definitions."""
    from importlib import resources  # only when writing the docs: keeps `import bridge.lint` quick

    prose = (resources.files("bridge") / "templates" / TEMPLATE).read_text(encoding="utf-8")
    prose = prose.replace("{{errors}}", ", ".join(r.code for r in RULES if r.severity == ERROR))
    prose = prose.replace("{{warnings}}", ", ".join(r.code for r in RULES if r.severity == WARNING))
    prose = prose.replace("{{opt_in}}", ", ".join(r.code for r in RULES if not r.default_enabled))
    lines = [prose.rstrip("\n"), "", "| Code | Name | Severity | What it reports |", "| --- | --- | --- | --- |"]
    for rule in RULES:
        lines.append(f"| [{rule.code}](#{_anchor(rule)}) | {rule.name} | {_severity(rule)} | {rule.summary} |")
    lines.append("")
    for rule in RULES:
        lines.append(render_rule(rule))
    return "\n".join(lines).rstrip("\n") + "\n"
