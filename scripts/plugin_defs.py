"""Meltano plugin definitions derived from the plugins' own `--about --format=json`.

One source of truth: `config_jsonschema` in tap.py / target.py. meltano.yml, the Meltano Hub
definitions under hub/ and the README settings tables are generated (or checked) from it, so they
cannot drift silently. Used by gen_hub_definitions.py, update_readme.py and the drift tests.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MELTANO_YML = ROOT / "meltano.yml"
HUB_DIR = ROOT / "hub"

# plugin name -> (Meltano plugin type, import package whose __main__ runs the CLI)
PLUGINS: dict[str, tuple[str, str]] = {
    "tap-amplitude": ("extractors", "tap_amplitude"),
    "target-amplitude": ("loaders", "target_amplitude"),
}

PLUGIN_META: dict[str, dict[str, Any]] = {
    "tap-amplitude": {
        "label": "Amplitude",
        "docs": "https://amplitude.com/docs/apis/analytics/export",
        "keywords": ["amplitude", "product-analytics", "meltano_sdk"],
    },
    "target-amplitude": {
        "label": "Amplitude",
        "docs": "https://amplitude.com/docs/apis/analytics/http-v2",
        "keywords": ["amplitude", "reverse-etl", "product-analytics", "meltano_sdk"],
    },
}

_JSON_TYPE_TO_KIND = {
    "integer": "integer",
    "number": "decimal",
    "boolean": "boolean",
    "object": "object",
    "array": "array",
    "string": "string",
}


@functools.cache
def about(plugin: str, fmt: str = "json") -> str:
    """The plugin's `--about` output, run with this interpreter so the checkout's code is used."""
    package = PLUGINS[plugin][1]
    result = subprocess.run(
        [sys.executable, "-m", package, "--about", f"--format={fmt}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return result.stdout


def about_json(plugin: str) -> dict[str, Any]:
    """`--about --format=json` parsed."""
    parsed: dict[str, Any] = json.loads(about(plugin, "json"))
    return parsed


def _kind(schema: dict[str, Any]) -> str:
    """Meltano setting kind for one JSON-schema property."""
    if "enum" in schema:
        return "options"
    if schema.get("format") in {"date-time", "date"}:
        return "date_iso8601"
    types = schema.get("type", [])
    if isinstance(types, str):
        types = [types]
    for json_type in types:
        if json_type in _JSON_TYPE_TO_KIND:
            return _JSON_TYPE_TO_KIND[json_type]
    return "object"


def meltano_setting(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """One Meltano `settings` entry for a `config_jsonschema` property."""
    setting: dict[str, Any] = {"name": name}
    setting["label"] = schema.get("title") or name.replace("_", " ").capitalize()
    if schema.get("description"):
        setting["description"] = " ".join(str(schema["description"]).split())
    kind = _kind(schema)
    setting["kind"] = kind
    if kind == "options":
        setting["options"] = [
            {"label": str(value), "value": value} for value in schema["enum"] if value is not None
        ]
    if schema.get("secret"):
        setting["sensitive"] = True
    if "default" in schema and schema["default"] is not None:
        setting["value"] = schema["default"]
    return setting


def _flow(items: list[str]) -> list[str]:
    """A list that YAML writes inline (`[api_key, secret_key]`)."""
    from ruamel.yaml.comments import CommentedSeq  # noqa: PLC0415  dev-only dependency

    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def meltano_definition(plugin: str) -> dict[str, Any]:
    """The generated part of a plugin's meltano.yml entry: capabilities, settings, validation."""
    info = about_json(plugin)
    properties: dict[str, Any] = info["settings"]["properties"]
    required: list[str] = info["settings"].get("required", [])
    definition: dict[str, Any] = {
        "capabilities": list(info["capabilities"]),
        "settings_group_validation": [_flow(required)] if required else [],
        "settings": [meltano_setting(name, schema) for name, schema in properties.items()],
    }
    return definition


def hub_definition(plugin: str) -> dict[str, Any]:
    """A Meltano Hub-style plugin definition (the shape hub-utils writes for SDK plugins)."""
    info = about_json(plugin)
    generated = meltano_definition(plugin)
    meta = PLUGIN_META[plugin]
    return {
        "name": plugin,
        "variant": "singer-amplitude",
        "namespace": PLUGINS[plugin][1],
        "label": meta["label"],
        "description": info["description"],
        "domain_url": "https://amplitude.com",
        "docs": meta["docs"],
        "keywords": meta["keywords"],
        "maintenance_status": "active",
        "pip_url": "singer-amplitude",
        "executable": plugin,
        "capabilities": generated["capabilities"],
        "settings_group_validation": generated["settings_group_validation"],
        "settings": generated["settings"],
    }


def hub_path(plugin: str) -> Path:
    """Where a plugin's hub definition lives: hub/<type>/<name>/<variant>.yml, as on the Hub."""
    return HUB_DIR / PLUGINS[plugin][0] / plugin / "singer-amplitude.yml"


def yaml_round_trip() -> Any:
    """A ruamel YAML instance that keeps comments and key order (ruamel comes with Meltano)."""
    from ruamel.yaml import YAML  # noqa: PLC0415  dev-only dependency, imported where needed

    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096  # no folding: folded lines keep trailing spaces
    yaml.preserve_quotes = True
    return yaml


def dump_yaml(data: Any) -> str:
    """YAML text of plain data, formatted like the rest of the repo's YAML."""
    import io  # noqa: PLC0415

    buffer = io.StringIO()
    yaml_round_trip().dump(data, buffer)
    return buffer.getvalue()


def meltano_plugin_entry(project: Any, plugin: str) -> Any:
    """The meltano.yml mapping of one of our plugins."""
    for entry in project["plugins"][PLUGINS[plugin][0]]:
        if entry["name"] == plugin:
            return entry
    raise KeyError(f"{plugin} is missing from meltano.yml plugins.{PLUGINS[plugin][0]}")


def plain(data: Any) -> Any:
    """ruamel containers -> plain dicts/lists, for comparison."""
    return json.loads(json.dumps(data))


def meltano_yml_drift(path: Path = MELTANO_YML) -> list[str]:
    """What differs between meltano.yml and the plugins' `--about` (empty list = in step)."""
    project = yaml_round_trip().load(path.read_text())
    problems: list[str] = []
    for plugin in PLUGINS:
        entry = plain(meltano_plugin_entry(project, plugin))
        for key, expected in meltano_definition(plugin).items():
            if entry.get(key) != expected:
                problems.append(f"meltano.yml {plugin}.{key} differs from `{plugin} --about`")
    return problems


def write_meltano_yml(path: Path = MELTANO_YML) -> bool:
    """Rewrite the generated keys of our two plugins in meltano.yml; True if the file changed."""
    yaml = yaml_round_trip()
    before = path.read_text()
    project = yaml.load(before)
    for plugin in PLUGINS:
        entry = meltano_plugin_entry(project, plugin)
        for key, value in meltano_definition(plugin).items():
            entry[key] = value
    import io  # noqa: PLC0415

    buffer = io.StringIO()
    yaml.dump(project, buffer)
    after = buffer.getvalue()
    if after != before:
        path.write_text(after)
    return after != before
