"""README settings tables, meltano.yml and hub/ definitions stay in step with `--about`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))

import plugin_defs  # noqa: E402  scripts/ is not a package
import update_readme  # noqa: E402


def _run_script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )


def test_readme_settings_tables_match_about_markdown() -> None:
    result = _run_script("update_readme.py", "--check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("plugin", list(plugin_defs.PLUGINS))
def test_readme_lists_every_setting_of_each_plugin(plugin: str) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split(update_readme.begin_marker(plugin))[1]
    section = section.split(update_readme.end_marker(plugin))[0]
    for name in plugin_defs.about_json(plugin)["settings"]["properties"]:
        assert f"| {name} |" in section, f"README lacks {plugin} setting {name}"


def test_hub_definitions_and_meltano_yml_match_about() -> None:
    result = _run_script("gen_hub_definitions.py", "--check")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("plugin", list(plugin_defs.PLUGINS))
def test_meltano_yml_settings_are_the_config_jsonschema_properties(plugin: str) -> None:
    project = plugin_defs.yaml_round_trip().load((ROOT / "meltano.yml").read_text())
    entry = plugin_defs.plain(plugin_defs.meltano_plugin_entry(project, plugin))
    schema = plugin_defs.about_json(plugin)["settings"]
    assert [s["name"] for s in entry["settings"]] == list(schema["properties"])
    sensitive = {s["name"] for s in entry["settings"] if s.get("sensitive")}
    secrets = {name for name, prop in schema["properties"].items() if prop.get("secret")}
    assert sensitive == secrets
    assert entry["settings_group_validation"] == [schema.get("required", [])]
    assert entry["pip_url"] == "-e ."
    assert entry["executable"] == plugin


def test_drift_check_fails_when_meltano_yml_loses_a_setting(tmp_path: Path) -> None:
    project = plugin_defs.yaml_round_trip().load((ROOT / "meltano.yml").read_text())
    plugin_defs.meltano_plugin_entry(project, "tap-amplitude")["settings"].pop()
    stale = tmp_path / "meltano.yml"
    with stale.open("w") as handle:
        plugin_defs.yaml_round_trip().dump(project, handle)
    assert plugin_defs.meltano_yml_drift(stale) == [
        "meltano.yml tap-amplitude.settings differs from `tap-amplitude --about`"
    ]


def test_readme_check_fails_when_a_table_row_is_edited_by_hand(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    edited = readme.replace("| api_url |", "| api_url_typo |", 1)
    assert edited != readme
    assert update_readme.rendered(edited) != edited
    assert update_readme.rendered(readme) == readme


def test_meltano_yml_validates_against_meltanos_schema() -> None:
    check = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    assert check is not None, "check-jsonschema is in the dev extra; run make setup"
    result = subprocess.run(
        [check, "--builtin-schema", "vendor.meltano", str(ROOT / "meltano.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_env_example_names_every_required_setting() -> None:
    env_example = (ROOT / ".env.example").read_text()
    for plugin in plugin_defs.PLUGINS:
        prefix = plugin.upper().replace("-", "_")
        for name in plugin_defs.about_json(plugin)["settings"].get("required", []):
            assert f"{prefix}_{name.upper()}=" in env_example


@pytest.mark.parametrize("plugin", list(plugin_defs.PLUGINS))
def test_hub_definition_adds_to_a_fresh_meltano_project(plugin: str, tmp_path: Path) -> None:
    (tmp_path / "meltano.yml").write_text(
        "project_id: hub-check\ndefault_environment: dev\nenvironments:\n  - name: dev\n"
        "send_anonymous_usage_stats: false\n"
    )
    plugin_type = plugin_defs.PLUGINS[plugin][0].rstrip("s")
    meltano = str(Path(sys.executable).parent / "meltano")
    result = subprocess.run(
        [
            meltano,
            "add",
            "--plugin-type",
            plugin_type,
            plugin,
            "--no-install",
            "--from-ref",
            str(plugin_defs.hub_path(plugin)),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    project = plugin_defs.yaml_round_trip().load((tmp_path / "meltano.yml").read_text())
    entry = plugin_defs.plain(project["plugins"][plugin_defs.PLUGINS[plugin][0]][0])
    assert entry["name"] == plugin
    assert [s["name"] for s in entry["settings"]] == list(
        plugin_defs.about_json(plugin)["settings"]["properties"]
    )


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    two_commands = readme.split("## The two commands", 1)[1].split("```bash", 1)[1].split("```")[0]
    test_command = next(
        line.split("#")[0].strip() for line in two_commands.splitlines() if "test" in line
    )
    assert test_command == "make test"
    ci_lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ci_lines[-1] == test_command


def test_generated_setting_kinds_follow_the_json_schema() -> None:
    assert plugin_defs.meltano_setting(
        "region", {"type": ["string", "null"], "enum": ["us", "eu"], "default": "us"}
    ) == {
        "name": "region",
        "label": "Region",
        "kind": "options",
        "options": [{"label": "us", "value": "us"}, {"label": "eu", "value": "eu"}],
        "value": "us",
    }
    secret = plugin_defs.meltano_setting("api_key", {"type": ["string"], "secret": True})
    assert secret["sensitive"] is True
    assert secret["kind"] == "string"
    assert (
        plugin_defs.meltano_setting("n", {"type": ["integer", "null"], "default": 24})["value"]
        == 24
    )
    assert plugin_defs.meltano_setting("x", {"type": ["number"]})["kind"] == "decimal"
    assert plugin_defs.meltano_setting("d", {"type": ["string"], "format": "date-time"})[
        "kind"
    ] == ("date_iso8601")
    assert plugin_defs.meltano_setting("m", {"type": ["object", "null"]})["kind"] == "object"
