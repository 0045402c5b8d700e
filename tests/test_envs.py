"""envs/*.yaml: every rule's conda env exists, and its pins agree with pyproject.toml."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
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
        n_targets = len(re.findall(r"^rule (references|datasets|training|evaluation|generalization|figures):", text, flags=re.M))
        n_conda = text.count("conda:")
        assert n_conda == n_rules - n_targets, f"{rules.name}: every computing rule needs a conda env"


# ---- every rule's environment holds what the rule's script imports (issue 11) -----------------------
IMPORT_NAMES = {  # distribution -> top-level import name
    "physics-tenpy": "tenpy",
    "pyyaml": "yaml",
    "snakemake-executor-plugin-slurm": "snakemake_executor_plugin_slurm",
}
_BLOCKING_IMPORTER = """
import ast, importlib, importlib.abc, sys
blocked = set(sys.argv[3].split(",")) - {""}

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not in this rule's environment)", name=name)
        return None

sys.meta_path.insert(0, Blocker())
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from sksr.pipeline.code_dependencies import script_dependencies
for path in script_dependencies(sys.argv[2], sys.argv[1]):  # reached through imports, lazy ones included
    parts = path.relative_to(sys.argv[1]).with_suffix("").parts
    importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
tree = ast.parse(open(sys.argv[2]).read())
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        for alias in node.names:
            importlib.import_module(alias.name)
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
        module = importlib.import_module(node.module)
        for alias in node.names:
            if not hasattr(module, alias.name):
                importlib.import_module(f"{node.module}.{alias.name}")
print("LOADED", ",".join(sorted({name.partition(".")[0] for name in sys.modules})))
"""


WORKFLOW_FILES = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]


def rule_blocks() -> dict[str, tuple[Path, str]]:
    """rule name -> (file, its text from its header to the next rule header), for every rule of the
    Snakefile and workflow/rules/*.smk; a ``rule:`` with a ``name:`` directive (e.g.
    ``train_seeds_<first>_<last>``) is listed under the name's fixed prefix."""
    blocks = {}
    for path in WORKFLOW_FILES:
        text = path.read_text()
        headers = list(re.finditer(r"^[ \t]*rule\b[ \t]*(\w*)[ \t]*:", text, flags=re.M))
        for header, following in zip(headers, [*headers[1:], None]):
            block = text[header.end() : following.start() if following else len(text)]
            name = header.group(1) or re.search(r'name:\s*\n\s*f?"(\w+?)_?\{', block).group(1)
            blocks[name] = path, block
    return blocks


def rule_scripts() -> list[tuple[str, str, str]]:
    """(rule, env file stem, script path) of every rule with a script."""
    found = []
    for name, (path, block) in rule_blocks().items():
        script = re.search(r'script:\s*\n\s*"\.\./scripts/([\w.]+)"', block)
        env = re.search(r'conda:\s*\n\s*"\.\./\.\./envs/(\w+)\.yaml"', block)
        if script:
            assert env, f"rule {name} ({path.name}) runs a script but declares no conda environment"
            found.append((name, env.group(1), f"workflow/scripts/{script.group(1)}"))
    return found


def test_rule_scripts_are_found():
    rules = {name for name, _, _ in rule_scripts()}
    assert {"reference", "dataset", "baseline", "train_seed", "train_seeds", "evaluate_seed", "tables",
            "figure"} <= rules


def _import_names(distributions) -> set[str]:
    return {IMPORT_NAMES.get(name, name) for name in distributions} - {"python", "pip"}


@pytest.fixture(scope="module")
def rule_imports() -> dict:
    """rule -> (env, blocked packages, finished process) of the blocked import of the rule's script."""
    universe = _import_names(pyproject_pins())
    results = {}
    for rule, env, script in rule_scripts():
        blocked = sorted(universe - _import_names(env_pins(ROOT / "envs" / f"{env}.yaml")))
        results[rule] = env, blocked, subprocess.run(
            [sys.executable, "-c", _BLOCKING_IMPORTER, str(ROOT / "src"), str(ROOT / script), ",".join(blocked)],
            capture_output=True, text=True, cwd=ROOT, timeout=300,
        )
    return results


@pytest.mark.parametrize("rule", [r for r, _, _ in rule_scripts()])
def test_each_rule_imports_only_what_its_environment_holds(rule, rule_imports):
    """Import every package module the script reaches (``sksr.pipeline.code_dependencies``, imports inside functions
    included) and the script's own imports, with every third-party package outside the rule's conda
    environment blocked; fail naming rule, environment and package."""
    env, blocked, result = rule_imports[rule]
    missing = re.findall(r"No module named '([\w.]+)' \(not in this rule's environment\)", result.stderr)
    assert result.returncode == 0, (
        f"rule {rule} runs in envs/{env}.yaml but imports {missing[-1] if missing else '?'} "
        f"(blocked: {blocked}):\n{result.stderr[-1500:]}"
    )


def test_each_environment_holds_nothing_its_rules_do_not_import(rule_imports):
    """The other half of "exactly": every package pinned in an env is loaded by at least one of its rules."""
    universe = _import_names(pyproject_pins())
    loaded: dict[str, set] = {}
    for env, _, result in rule_imports.values():
        line = next((l for l in result.stdout.splitlines() if l.startswith("LOADED ")), "LOADED ")
        loaded.setdefault(env, set()).update(line.removeprefix("LOADED ").split(","))
    unused = {
        env: sorted(_import_names(env_pins(ROOT / "envs" / f"{env}.yaml")) - (modules & universe))
        for env, modules in loaded.items()
    }
    assert not any(unused.values()), f"pinned, but imported by none of the env's rules: {unused}"


def test_code_dependencies_follow_imports_transitively(tmp_path):
    """script -> a (top level) -> b (inside a function) -> package __init__; plumbing is not followed."""
    from sksr.pipeline.code_dependencies import script_dependencies

    src = tmp_path / "src" / "sksr"
    (src / "sub").mkdir(parents=True)
    (src / "__init__.py").write_text("from sksr import grid\n")
    (src / "grid.py").write_text("import numpy\n")
    (src / "a.py").write_text("from sksr.sub import b\n")
    (src / "sub" / "__init__.py").write_text("")
    (src / "sub" / "b.py").write_text("def f():\n    from sksr.io import provenance\n    import sksr.c\n")
    (src / "c.py").write_text("")
    (src / "io").mkdir()
    (src / "io" / "__init__.py").write_text("")
    (src / "io" / "provenance.py").write_text("from sksr import unused\n")
    (src / "unused.py").write_text("")
    script = tmp_path / "script.py"
    script.write_text("import sys\nwith open('x') as f:\n    from sksr.a import thing\n")
    found = {str(p.relative_to(tmp_path / "src")) for p in script_dependencies(script, tmp_path / "src")}
    assert found == {"sksr/__init__.py", "sksr/grid.py", "sksr/a.py", "sksr/sub/__init__.py", "sksr/sub/b.py",
                     "sksr/c.py"}


def test_model_names_come_from_one_registry():
    """The schema's trainable models are the registry's kinds (sKSR by default); every kind has a network;
    the schema's published baselines are the registry's."""
    from sksr.functionals import MODEL_LABELS, SKSR_MODELS
    from sksr.functionals.published import PUBLISHED_BASELINES
    from sksr.functionals.neural import MODEL_KINDS, NeuralXCSpec

    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    models = schema["properties"]["training"]["properties"]["models"]
    assert models["items"]["enum"] == list(MODEL_LABELS)
    assert models["default"] == list(SKSR_MODELS)
    baselines = schema["properties"]["evaluation"]["properties"]["baselines"]["items"]["enum"]
    assert baselines == ["lsda", *PUBLISHED_BASELINES, "direct-ml"]
    assert MODEL_KINDS == tuple(MODEL_LABELS)
    assert all(NeuralXCSpec(kind).parameter_count > 0 for kind in MODEL_KINDS)
    assert "lsda" not in (ROOT / "Snakefile").read_text()  # wildcard constraints use the configured models


def local_rules() -> set[str]:
    """Every rule named by a ``localrules:`` directive of the Snakefile or a rule file (comments skipped)."""
    names = set()
    for path in WORKFLOW_FILES:
        for block in re.finditer(r"^localrules:[ \t]*\n((?:[ \t]*(?:[ \t][^\n]*)?\n)*)", path.read_text(), flags=re.M):
            for line in block.group(1).splitlines():
                names.update(re.findall(r"\w+", line.split("#")[0]))
    return names


def test_local_rules_ask_for_no_compute_resources():
    """A ``localrules`` job runs beside Snakemake (on a cluster's login node), where its threads and memory
    would be ignored: every rule that declares them (solvers, SCF, training) is submitted, and every local
    rule exists."""
    local, blocks = local_rules(), rule_blocks()
    assert {"all", "tables", "figure", "select_seed"} <= local
    assert local <= set(blocks), f"unknown local rules: {sorted(local - set(blocks))}"
    heavy = {name for name, (_, text) in blocks.items() if re.search(r"^\s*(threads|resources):", text, flags=re.M)}
    assert {"reference", "baseline", "evaluate_seed", "generalization_train_seed"} <= heavy
    assert not local & heavy, f"local rules that declare compute resources: {sorted(local & heavy)}"
