"""Regenerate (or, with --check, verify) the plugin definitions derived from `--about`.

Writes the generated keys of tap-amplitude / target-amplitude in meltano.yml and the Meltano
Hub-style definitions under hub/. Run after changing a plugin's config_jsonschema or capabilities.
"""

from __future__ import annotations

import argparse
import sys

import plugin_defs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if anything would change")
    args = parser.parse_args()

    problems = plugin_defs.meltano_yml_drift()
    for plugin in plugin_defs.PLUGINS:
        path = plugin_defs.hub_path(plugin)
        expected = plugin_defs.dump_yaml(plugin_defs.hub_definition(plugin))
        if not path.exists() or path.read_text() != expected:
            problems.append(f"{path.relative_to(plugin_defs.ROOT)} differs from `{plugin} --about`")
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(expected)
    if args.check:
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run: python scripts/gen_hub_definitions.py", file=sys.stderr)
        return 1 if problems else 0
    plugin_defs.write_meltano_yml()
    for problem in problems:
        print(f"updated: {problem}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
