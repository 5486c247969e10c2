"""Regenerate (or, with --check, verify) the README's capability and settings sections.

Each plugin's section sits between `<!-- BEGIN generated: <plugin> about -->` and
`<!-- END generated: <plugin> about -->` and is taken from `<plugin> --about --format=markdown`
(headings moved down two levels; the title and Python versions left out).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys

import plugin_defs

README = plugin_defs.ROOT / "README.md"
KEEP_FROM = "## Capabilities"
DROP_SECTION = "## Supported Python Versions"


def begin_marker(plugin: str) -> str:
    return f"<!-- BEGIN generated: {plugin} about (scripts/update_readme.py) -->"


def end_marker(plugin: str) -> str:
    return f"<!-- END generated: {plugin} about -->"


def generated_section(plugin: str) -> str:
    """The `--about` markdown from Capabilities on, without the Python versions section."""
    markdown = plugin_defs.about(plugin, "markdown")
    body = markdown[markdown.index(KEEP_FROM) :]
    body = re.sub(rf"{re.escape(DROP_SECTION)}\n.*?(?=\n## )", "", body, flags=re.DOTALL)
    body = re.sub(
        r"^(#+) ", lambda match: "#" * (len(match.group(1)) + 2) + " ", body, flags=re.MULTILINE
    )
    body = re.sub(r"\n{3,}", "\n\n", body)
    return body.strip() + "\n"


def rendered(text: str) -> str:
    """README text with every generated section replaced by the current `--about` output."""
    for plugin in plugin_defs.PLUGINS:
        begin, end = begin_marker(plugin), end_marker(plugin)
        if begin not in text or end not in text:
            raise SystemExit(f"README.md lacks the markers for {plugin}: {begin} ... {end}")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{generated_section(plugin)}{end}{tail}"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args()
    current = README.read_text()
    expected = rendered(current)
    if expected == current:
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current.splitlines(), expected.splitlines(), "README.md", "expected", lineterm=""
        )
        print("\n".join(diff), file=sys.stderr)
        print("README.md settings are stale; run: python scripts/update_readme.py", file=sys.stderr)
        return 1
    README.write_text(expected)
    print("README.md updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
