"""envs/*.yaml: every rule's conda env exists, and its pins agree with pyproject.toml."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins() -> dict:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    specs = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        specs += extra
    pins = {}
    for spec in specs:
        name, _, version = spec.partition("==")
        pins[name.strip().lower()] = version.strip()
    return pins


def env_pins(path: Path) -> dict:
    env = yaml.safe_load(path.read_text())
    pins = {}
    for dep in env["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        for entry in entries:
            match = re.match(r"^([A-Za-z0-9_.\-]+)\s*(==|=)\s*([^\s#]+)", entry)
            if match:
                pins[match.group(1).lower()] = match.group(3)
    return pins


def test_every_env_is_fully_pinned_and_agrees_with_pyproject():
    expected = pyproject_pins()
    envs = sorted((ROOT / "envs").glob("*.yaml"))
    assert {p.stem for p in envs} >= {"dmrg", "jax", "analysis"}
    for path in envs:
        pins = env_pins(path)
        assert pins, f"{path.name}: no pinned packages"
        for name, version in pins.items():
            if name in ("python", "pip"):
                continue
            assert name in expected, f"{path.name}: {name} is not a dependency in pyproject.toml"
            assert version == expected[name], (
                f"{path.name}: {name}=={version} but pyproject.toml pins {name}=={expected[name]}"
            )
        env = yaml.safe_load(path.read_text())
        for dep in env["dependencies"]:
            for entry in dep["pip"] if isinstance(dep, dict) else [dep]:
                assert entry == "pip" or "=" in entry, f"{path.name}: unpinned dependency {entry!r}"


def test_python_version_matches_requires_python():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in requires.lstrip(">=").split("."))
    for path in (ROOT / "envs").glob("*.yaml"):
        python = env_pins(path)["python"]
        assert tuple(int(x) for x in python.split(".")) >= minimum, path.name


def test_every_rule_declares_an_existing_conda_env():
    for rules in (ROOT / "workflow" / "rules").glob("*.smk"):
        text = rules.read_text()
        for env in re.findall(r'conda:\s*\n\s*"([^"]+)"', text):
            assert (rules.parent / env).resolve().is_file(), f"{rules.name}: missing env {env}"
        n_rules = len(re.findall(r"^\s*rule(?: \w+)?:", text, flags=re.M))  # also rules inside if/for blocks
        n_targets = len(re.findall(r"^rule (references|datasets|training|evaluation|figures):", text, flags=re.M))
        n_conda = text.count("conda:")
        assert n_conda == n_rules - n_targets, f"{rules.name}: every computing rule needs a conda env"
