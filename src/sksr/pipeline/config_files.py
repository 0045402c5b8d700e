"""Config files as the workflow reads them, with messages that name the file and line of every problem.

Used when the Snakefile is parsed (``workflow/rules/common.smk``) and by ``sksr run`` (what
``./run_workflow.sh`` calls) before Snakemake starts:

- ``load_files``: YAML syntax errors name ``file:line:column``; an empty file (or one with only comments)
  is a no-op override; a file whose top level is not a mapping is refused, naming it;
- ``schema_problems``: the JSON schema (types, ranges, unknown keys), one line per problem, never the
  schema itself;
- ``Locator``: the ``file:line`` that set a dotted config key (the last file that sets it, as files are
  merged in order), to prefix every problem line.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from sksr.pipeline.workflow_config import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT_CONFIGFILE = "config/config.yaml"


class ConfigFileError(ConfigError):
    """A config file that cannot be read (missing, YAML syntax, not a mapping); the message names it."""


def _is_empty(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def read_file(path: str | os.PathLike) -> tuple[dict | None, Any]:
    """``(data, node)`` of one YAML/JSON config file; ``(None, None)`` when it is empty (a no-op override).

    Raises ConfigFileError naming ``file:line:column`` for YAML syntax errors.
    """
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigFileError(f"{path}: cannot read config file ({error})") from None
    if _is_empty(text):
        return None, None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = " ".join(str(p) for p in (getattr(error, "context", None), getattr(error, "problem", None)) if p)
        raise ConfigFileError(f"{where}: YAML syntax error: {problem or error}") from None
    if data is None:
        return None, None
    if not isinstance(data, dict):
        raise ConfigFileError(
            f"{path}:1: a config file must be a mapping of keys (grid:, systems:, ...), got a {type(data).__name__}"
        )
    return data, node


def merge(base: dict, update: Mapping) -> dict:
    """Recursive update of nested mappings, as Snakemake merges several ``--configfile`` files."""
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


@dataclass
class LoadedConfig:
    """Merged config of several files, their YAML nodes (for line numbers) and the empty files skipped."""

    config: dict = field(default_factory=dict)
    nodes: list = field(default_factory=list)  # [(path, yaml node)] in merge order
    empty: list = field(default_factory=list)

    def locate(self, key: str) -> str:
        """``file:line`` of the last file that sets ``key`` (or its closest parent); '' if none does."""
        parts = key.split(".")
        best, best_depth = "", 0
        for path, node in self.nodes:
            line, depth = _find(node, parts)
            if depth and depth >= best_depth:
                best, best_depth = f"{path}:{line}", depth
        return best


def _find(node, parts: Sequence[str]) -> tuple[int, int]:
    """(line, depth) of the deepest key of ``parts`` present in a composed YAML mapping node."""
    import yaml

    line, depth = 0, 0
    for part in parts:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if str(key_node.value) == part:
                line, depth, node = key_node.start_mark.line + 1, depth + 1, value_node
                break
        else:
            break
    return line, depth


def _display(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory when it lies below it (shorter messages)."""
    relative = os.path.relpath(path)
    return relative if not relative.startswith("..") else str(path)


def load_files(paths: Iterable[str | os.PathLike]) -> LoadedConfig:
    """Read and merge config files in order; every unreadable file is reported at once."""
    loaded, errors = LoadedConfig(), []
    for path in paths:
        try:
            data, node = read_file(path)
        except ConfigFileError as error:
            errors.append(str(error))
            continue
        if data is None:
            loaded.empty.append(str(path))
            continue
        merge(loaded.config, data)
        loaded.nodes.append((_display(path), node))
    if errors:
        raise ConfigFileError("invalid config file:\n  - " + "\n  - ".join(errors))
    return loaded


def load_schema(path: str | os.PathLike = SCHEMA_PATH) -> dict:
    import yaml

    with open(path) as handle:
        return yaml.safe_load(handle)


def fill_defaults(config: dict, schema: Mapping) -> dict:
    """Fill absent keys with the schema's defaults, recursively (as Snakemake's ``validate`` does)."""
    for key, sub in schema.get("properties", {}).items():
        if key not in config and "default" in sub:
            config[key] = json.loads(json.dumps(sub["default"]))
        if isinstance(config.get(key), dict) and sub.get("type") == "object":
            fill_defaults(config[key], sub)
    return config


def _dotted(path: Iterable) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def schema_problems(config: Mapping, schema: Mapping) -> list[str]:
    """Every schema violation of ``config`` (defaults filled first), one line each: ``key: message``."""
    import jsonschema

    filled = fill_defaults(copy.deepcopy(dict(config)), schema)
    validator = jsonschema.validators.validator_for(schema)(schema)
    problems = []
    for error in sorted(validator.iter_errors(filled), key=lambda e: [str(p) for p in e.absolute_path]):
        key = _dotted(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
            allowed = set(error.schema.get("properties", {}))
            for extra in sorted(set(error.instance) - allowed):
                name = f"{key}.{extra}" if key else str(extra)
                problems.append(f"{name}: unknown key (allowed here: {', '.join(sorted(allowed))})")
            continue
        message = error.message
        if len(message) > 300:
            message = message[:300] + " ..."
        problems.append(f"{key or '<top level>'}: {message}")
    return problems


def check_files(paths: Sequence[str | os.PathLike], schema_path: str | os.PathLike = SCHEMA_PATH) -> LoadedConfig:
    """Read, schema-check and semantically check config files; ConfigError lists every problem with its
    ``file:line``. Returns the loaded config (defaults not filled)."""
    loaded = load_files(paths)
    schema = load_schema(schema_path)
    check_config_dict(loaded.config, schema, loaded.locate)
    return loaded


def check_config_dict(config: Mapping, schema: Mapping, locate=None) -> dict:
    """Schema problems first (one line each); if none, the curves are expanded into systems
    (``expand_curves``) and the semantic checks run (``check_config``), on a copy."""
    from sksr.pipeline.workflow_config import check_config, expand_curves, format_problems

    problems = schema_problems(config, schema)
    if problems:
        raise ConfigError(format_problems(problems, locate))
    filled = fill_defaults(copy.deepcopy(dict(config)), schema)
    problems = expand_curves(filled)
    if problems:
        raise ConfigError(format_problems(problems, locate))
    return check_config(filled, locate=locate)
