"""Settings from flags, then ``RAGDROP_*`` environment variables, then a TOML file, then defaults.

Every `PipelineConfig` field is a flag (``top_k`` -> ``--top-k``) and an environment variable
(``RAGDROP_TOP_K``); the TOML file (``--config ragdrop.toml`` or ``RAGDROP_CONFIG``) holds the
same names at top level or under ``[pipeline]``, and server settings under ``[server]``.
A renamed setting's old name (``candidates``) still works in all three, with a
DeprecationWarning.

Used by the CLI and by the server's ``uvicorn --factory`` entry point alike.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import tomllib
import types
import typing
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr, ValidationError

from ragdrop.pipeline.config import RENAMED_SETTINGS, PipelineConfig

ENV_PREFIX = "RAGDROP_"
CONFIG_ENV = "RAGDROP_CONFIG"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_TOP_K = 50
Section = Literal["pipeline", "server"]


@dataclass(frozen=True)
class Setting:
    """One setting with its default, help text and (for flags) its argparse shape."""

    name: str
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    is_bool: bool = False
    secret: bool = False
    aliases: tuple[str, ...] = ()  # deprecated old names
    blank_is_none: bool = True  # an empty/"none"/"null" environment value means "not set"

    @property
    def flag(self) -> str:
        return flag_of(self.name)

    @property
    def env(self) -> str:
        return env_of(self.name)


def is_secret(name: str) -> bool:
    """Settings whose values are never shown: keys, and URLs that may carry a password."""
    return "api_key" in name or name == "cache_url"


def flag_of(name: str) -> str:
    """``top_k`` -> ``--top-k``."""
    return "--" + name.replace("_", "-")


def env_of(name: str) -> str:
    """``top_k`` -> ``RAGDROP_TOP_K``."""
    return ENV_PREFIX + name.upper()


def _settings_from_model() -> tuple[Setting, ...]:
    settings = []
    for name, field in PipelineConfig.model_fields.items():
        annotation = field.annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
            annotation = args[0] if len(args) == 1 else annotation
        choices = None
        if typing.get_origin(annotation) is Literal:
            choices = tuple(str(a) for a in typing.get_args(annotation))
        settings.append(
            Setting(
                name=name,
                default=field.default,
                help=field.description or name,
                choices=choices,
                is_bool=annotation is bool,
                secret=is_secret(name),
                aliases=tuple(old for old, new in RENAMED_SETTINGS.items() if new == name),
            )
        )
    return tuple(settings)


PIPELINE_SETTINGS: tuple[Setting, ...] = _settings_from_model()
SERVER_SETTINGS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", "Interface to listen on (0.0.0.0 for every interface)."),
    Setting("port", 8000, "TCP port."),
    Setting("workers", 1, "Worker processes; more than 1 needs --qdrant-url."),
    Setting(
        "api_key",
        None,
        "Bearer token required by every endpoint but /health/live; prefer the environment "
        "variable, flags are visible in the process list. Unset: the server answers on "
        "127.0.0.1 only; blank or placeholder values are refused.",
        secret=True,
        # RAGDROP_API_KEY="" is a mistake to report (issue 14), not a request for no auth.
        blank_is_none=False,
    ),
    Setting(
        "insecure_no_auth",
        False,
        "Serve without an API key on an interface other than 127.0.0.1: anyone who can reach "
        "it may query, add and delete documents.",
        is_bool=True,
    ),
    Setting("max_body_bytes", DEFAULT_MAX_BODY_BYTES, "Largest request body accepted."),
    Setting("max_top_k", DEFAULT_MAX_TOP_K, "Largest top_k a question may ask for."),
    Setting(
        "llm_url",
        None,
        "OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, OpenAI) that writes /chat "
        "answers, e.g. http://127.0.0.1:8080/v1; unset: extractive answers.",
    ),
    Setting("llm_model", None, "Model name the LLM endpoint serves (with --llm-url)."),
    Setting(
        "llm_api_key",
        None,
        "API key of the LLM endpoint; prefer the environment variable.",
        secret=True,
    ),
)


def add_settings_arguments(
    parser: argparse.ArgumentParser,
    section: Section = "pipeline",
    names: Iterable[str] | None = None,
) -> None:
    """Add a flag per setting of ``section`` (and ``--config`` once) to ``parser``.

    Flags default to "not given" so that the environment and the TOML file can apply; the
    help text shows the built-in default and the environment variable.
    """
    try:
        parser.add_argument(
            "--config",
            type=Path,
            default=argparse.SUPPRESS,
            help=f"TOML settings file (default: none; env {CONFIG_ENV})",
        )
    except argparse.ArgumentError:
        pass  # already added with the other section's settings
    wanted = set(names) if names is not None else None
    for setting in PIPELINE_SETTINGS if section == "pipeline" else SERVER_SETTINGS:
        if wanted is not None and setting.name not in wanted:
            continue
        shown = "***" if setting.secret and setting.default else setting.default
        text = f"{setting.help} (default: {shown}; env {setting.env})"
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": text, "dest": setting.name}
        if setting.is_bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif setting.choices:
            kwargs["choices"] = setting.choices
        else:
            kwargs["metavar"] = setting.name.upper()
        parser.add_argument(setting.flag, **kwargs)
        for alias in setting.aliases:
            parser.add_argument(
                flag_of(alias),
                **{
                    **kwargs,
                    "dest": alias,
                    "help": f"deprecated alias of {setting.flag} (default: none; env "
                    f"{env_of(alias)})",
                },
            )


def load_toml(path: Path | str) -> dict[str, Any]:
    """Read a TOML settings file; errors name the file and the fix."""
    path = Path(path).expanduser()
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ValueError(f"--config {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--config {path}: not valid TOML ({exc})") from None


def _toml_section(data: Mapping[str, Any], section: Section, path: Path) -> dict[str, Any]:
    known_pipeline = {name for s in PIPELINE_SETTINGS for name in (s.name, *s.aliases)}
    known_server = {name for s in SERVER_SETTINGS for name in (s.name, *s.aliases)}
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    unknown_tables = sorted(set(tables) - {"pipeline", "server"})
    if unknown_tables:
        raise ValueError(
            f"{path}: unknown table(s) {unknown_tables}; allowed: [pipeline], [server]"
        )
    pipeline = {**top, **tables.get("pipeline", {})}
    server = dict(tables.get("server", {}))
    for label, values, known in (
        ("", pipeline, known_pipeline),
        ("[server] ", server, known_server),
    ):
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{path}: unknown {label}setting(s) {unknown}; allowed: {sorted(known)}"
            )
    return pipeline if section == "pipeline" else server


def _env_value(raw: str, setting: Setting) -> Any:
    if (
        setting.default is None
        and setting.blank_is_none
        and raw.strip().lower() in ("", "none", "null")
    ):
        return None
    return raw


def resolve_settings(
    section: Section,
    args: argparse.Namespace | Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge the sources of ``section``; returns ``(values, origin of each value)``.

    Within one source a setting's own name wins over its deprecated alias.
    """
    given = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
    env = dict(env or {})
    settings = PIPELINE_SETTINGS if section == "pipeline" else SERVER_SETTINGS
    values: dict[str, Any] = {s.name: s.default for s in settings}
    origins = {s.name: "default" for s in settings}
    config_path = given.get("config") or env.get(CONFIG_ENV)
    toml: dict[str, Any] = {}
    if config_path:
        path = Path(config_path)
        toml = _toml_section(load_toml(path), section, path)
    for setting in settings:
        names = (*setting.aliases, setting.name)
        found = [(toml[n], n, f"{config_path}") for n in names if n in toml]
        found += [
            (_env_value(env[env_of(n)], setting), n, f"environment variable {env_of(n)}")
            for n in names
            if env_of(n) in env
        ]
        found += [(given[n], n, f"flag {flag_of(n)}") for n in names if n in given]
        for value, name, origin in found:
            if name != setting.name:
                warnings.warn(
                    f"{origin}: {name} is deprecated, use {setting.name}",
                    DeprecationWarning,
                    stacklevel=3,
                )
            values[setting.name], origins[setting.name] = value, origin
    return values, origins


def config_from_sources(
    args: argparse.Namespace | Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> PipelineConfig:
    """The `PipelineConfig` from flags > environment > TOML file > defaults.

    Raises ValueError naming the setting, where its value came from, and what is allowed.

    Example:
        >>> config_from_sources({"top_k": 3}, env={"RAGDROP_TOP_K": "9"}).top_k
        3
    """
    values, origins = resolve_settings("pipeline", args, env)
    try:
        return PipelineConfig.model_validate(values)
    except ValidationError as exc:
        raise ValueError(_explain(exc, origins)) from None


def server_settings_from_sources(
    args: argparse.Namespace | Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Host, port, workers, api_key, insecure_no_auth, max_body_bytes, max_top_k, checked.

    Raises ValueError naming the setting and where it came from: a blank or placeholder
    API key (a set key must be a real secret), or a host other than loopback without an API
    key unless ``insecure_no_auth`` is true.
    """
    values, origins = resolve_settings("server", args, env)
    for name in ("port", "workers", "max_body_bytes", "max_top_k"):
        try:
            values[name] = int(values[name])
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must be an integer, got {values[name]!r} (from {origins[name]})"
            ) from None
    if not 0 <= values["port"] <= 65535:
        raise ValueError(
            f"port must be from 0 to 65535, got {values['port']} (from {origins['port']})"
        )
    if values["api_key"] is not None:
        problem = api_key_problem(values["api_key"])
        if problem:
            raise ValueError(api_key_error(f"the API key from {origins['api_key']}", problem))
    values["insecure_no_auth"] = _as_bool(values["insecure_no_auth"], origins["insecure_no_auth"])
    host = str(values["host"])
    if values["api_key"] is None and not values["insecure_no_auth"] and not is_loopback(host):
        raise ValueError(
            f"host {host} (from {origins['host']}) lets other machines connect, and no API key "
            "is set: set RAGDROP_API_KEY (or --api-key) to a random secret, or pass "
            "--insecure-no-auth (RAGDROP_INSECURE_NO_AUTH=1) to serve without auth on purpose"
        )
    return values


# -- server authentication rules (issue 14: fail closed) --------------------------------------

_PLACEHOLDER_WORDS = frozenset(
    "none null nil undefined false true no off yes on disabled empty secret password passwd "
    "token key apikey mykey mysecret default test todo tbd fixme xxx".split()
)
_PLACEHOLDER_PARTS = (
    "changeme", "changethis", "changeit", "replaceme", "yourapikey", "yourkey", "yoursecret",
    "yourtoken", "placeholder", "insertkey", "putyour", "example", "dummy",
)  # fmt: skip
# Unexpanded templates: <key>, ${VAR}, $VAR, {{ var }}, %VAR%.
_TEMPLATE = re.compile(r"^(<.*>|\$\{.*\}|\$\w+|\{\{.*\}\}|%\w+%)$")


def api_key_problem(key: object) -> str | None:
    """Why ``key`` cannot be the server's API key (blank, a placeholder), or None if it can.

    Example:
        >>> api_key_problem("changeme"), api_key_problem("k7Qx9-pW2m_Rt4vL")
        ('is a placeholder, not a secret', None)
    """
    if not isinstance(key, str):
        return f"must be a string, got {type(key).__name__}"
    if not key.strip():
        return "is empty or whitespace"
    if key != key.strip():
        return "has leading or trailing whitespace"
    folded = re.sub(r"[^a-z0-9]", "", key.lower())
    if (
        len(set(folded)) <= 1
        or folded in _PLACEHOLDER_WORDS
        or any(part in folded for part in _PLACEHOLDER_PARTS)
        or _TEMPLATE.match(key.strip())
    ):
        return "is a placeholder, not a secret"
    return None


def api_key_error(what: str, problem: str) -> str:
    """One line: ``what`` (where the key came from) ``problem``, and the fix."""
    return (
        f"{what} {problem}: set RAGDROP_API_KEY (or --api-key) to a random secret, e.g. the "
        "output of python -c 'import secrets; print(secrets.token_urlsafe(32))', or unset it "
        "to serve without auth on 127.0.0.1 only"
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (also written [::1] or ::ffff:127.0.0.1)."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def _as_bool(value: Any, origin: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(
        f"insecure_no_auth must be true or false (1/0, yes/no, on/off), got {value!r} "
        f"(from {origin})"
    )


def config_to_env(config: PipelineConfig) -> dict[str, str]:
    """``RAGDROP_*`` variables that rebuild ``config`` in another process (server workers)."""
    env = {}
    for setting in PIPELINE_SETTINGS:
        value = getattr(config, setting.name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[setting.env] = "" if value is None else str(value)
    return env


def _explain(exc: ValidationError, origins: Mapping[str, str]) -> str:
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        origin = origins.get(name, "unknown source")
        shown = "***" if is_secret(name) else repr(error.get("input"))
        lines.append(f"{name}: {error['msg']} (got {shown} from {origin})")
    return "invalid settings: " + "; ".join(lines)
