"""Settings checks both plugins run around the SDK's own `config_jsonschema` validation.

The SDK's command line prints the `errors` of a ConfigValidationError and then only
`Config validation failed`: an error raised with a message but no `errors` reaches the user as
that bare line, and schema errors read `Decimal('0.5') is less than ... in config['x']`. It also
ignores setting names it does not know, so a typo silently keeps the default. `SettingsChecks`
gives every config error a `setting: reason` line and warns about unknown names, naming the
closest known setting.
"""

from __future__ import annotations

import decimal
import difflib
from typing import TYPE_CHECKING, Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.plugin_base import PluginBase

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from jsonschema.exceptions import ValidationError


def plain_json(value: Any) -> Any:
    """The config as plain JSON values: the SDK reads config files with Decimal numbers."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(item) for item in value]
    return value


def _line(error: ValidationError) -> str:
    """`setting.path: reason`; for anyOf/oneOf, the reason of the branch that fit best."""
    while error.context:
        error = best_match(error.context)
    path = ".".join(str(part) for part in error.absolute_path) or "config"
    return f"{path}: {error.message}"


def schema_errors(schema: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    """Every way `config` breaks `schema`, one `setting: reason` line each, in setting order."""
    validator = Draft202012Validator(dict(schema))
    found = validator.iter_errors(plain_json(dict(config)))
    ordered = sorted(found, key=lambda error: [str(part) for part in error.absolute_path])
    return [_line(error) for error in ordered]


def config_error(errors: list[str], schema: dict | None = None) -> ConfigValidationError:
    """A ConfigValidationError whose message and `errors` both carry the reasons."""
    return ConfigValidationError("; ".join(errors), errors=errors, schema=schema)


def with_reasons(exc: ConfigValidationError) -> ConfigValidationError:
    """`exc` itself when it lists its reasons, else the same error with its message listed."""
    if exc.errors:
        return exc
    return config_error([str(exc)], exc.schema)


def schema_defaults(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Setting name -> default declared in the schema (settings without one are left out)."""
    return {
        name: prop["default"]
        for name, prop in schema.get("properties", {}).items()
        if "default" in prop
    }


def defaults_never_null(schema: dict[str, Any]) -> dict[str, Any]:
    """Refuse null for every setting with a default (in place): unset means the default.

    The SDK fills in a default only for a missing key, so code can then read `config[name]`
    and no default is written a second time in code.
    """
    for prop in schema.get("properties", {}).values():
        types = prop.get("type")
        if "default" in prop and isinstance(types, list) and "null" in types:
            prop["type"] = [kind for kind in types if kind != "null"]
    return schema


def unknown_setting_messages(
    config: Mapping[str, Any], known: Collection[str], plugin: str
) -> list[str]:
    """One warning per setting name `plugin` does not know, with the closest known name.

    Names starting with `_` are left alone: Meltano keeps its extras (`_select`, ...) so.
    """
    messages = []
    for name in config:
        if name in known or name.startswith("_"):
            continue
        closest = difflib.get_close_matches(name, list(known), n=1)
        hint = f"; did you mean `{closest[0]}`?" if closest else ""
        messages.append(f"Unknown setting `{name}` is ignored by {plugin}{hint}")
    return messages


class SettingsChecks(PluginBase):
    """Mixin for the Tap and the Target: explained config errors, warnings for unknown names."""

    #: Names the plugin reads although they are not in `--about` (e.g. the SDK's `user_agent`).
    UNDECLARED_SETTINGS: ClassVar[frozenset[str]] = frozenset()
    #: SDK built-in settings the plugin ignores, with the reason a config that sets one is given.
    IGNORED_SETTINGS: ClassVar[dict[str, str]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Validate as the SDK does, with every reason spelt out; then warn about unknown names."""
        try:
            super().__init__(*args, **kwargs)
        except ConfigValidationError as exc:
            for message in self.unknown_settings():  # a misspelt name may be the cause
                self.logger.warning(message)
            explained = self.explained(exc)
            if explained is exc:
                raise
            raise explained from exc
        # Without validation (`--discover`) the SDK warns "Config validation failed" only.
        for message in [*self.schema_problems(), *self.unknown_settings()]:
            self.logger.warning(message)

    def explained(self, exc: ConfigValidationError) -> ConfigValidationError:
        """`exc` with one `setting: reason` line per problem in `errors` (what the CLI prints)."""
        if exc.errors and exc.schema is not None:
            return config_error(schema_errors(exc.schema, self.config) or exc.errors, exc.schema)
        return with_reasons(exc)

    def schema_problems(self) -> list[str]:
        """What the config breaks in the schema (empty after a validated start)."""
        return schema_errors(self.full_schema(), self.config)

    @classmethod
    def full_schema(cls) -> dict[str, Any]:
        """`config_jsonschema` with the SDK's built-in settings, as `--about` shows it."""
        schema = cls.config_jsonschema
        cls.append_builtin_config(schema)
        return schema

    def known_settings(self) -> frozenset[str]:
        """Every setting name of `--about`, plus the undeclared ones the plugin reads."""
        return frozenset(self.full_schema().get("properties", {})) | self.UNDECLARED_SETTINGS

    def unknown_settings(self) -> list[str]:
        """Warnings for the config's setting names this plugin does not know or ignores."""
        ignored = [
            f"Setting `{name}` is ignored by {self.name}: {reason}"
            for name, reason in self.IGNORED_SETTINGS.items()
            if name in self.config
        ]
        known = self.known_settings() | self.IGNORED_SETTINGS.keys()
        return [*ignored, *unknown_setting_messages(self.config, known, self.name)]
