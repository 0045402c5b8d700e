"""Import layers of the package (sksr.pipeline.layers): every import points down, and `import sksr` needs no JAX."""

import subprocess
import sys
from pathlib import Path

import pytest

from sksr.pipeline import layers

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_has_a_layer_and_every_import_points_down():
    for module in layers.package_modules()[1:]:
        layers.layer_of(module)  # KeyError naming an unassigned module
    assert layers.upward_imports() == []


def test_an_upward_import_is_found_even_inside_a_function(tmp_path):
    package = tmp_path / "sksr"
    for sub in ("core", "training"):
        (package / sub).mkdir(parents=True)
        (package / sub / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from sksr.core.grid import Grid\n")
    (package / "core" / "grid.py").write_text("def f():\n    from sksr.training.optimizer import train_seed\n")
    (package / "training" / "optimizer.py").write_text("from sksr.core import grid\n")
    assert layers.upward_imports(tmp_path) == [
        "sksr.core.grid (core) imports sksr.training.optimizer (training)"
    ]


def test_the_layer_of_a_module_is_its_subpackage():
    assert layers.layer_of("sksr.ks.scf") == "ks"
    assert layers.layer_of("sksr.references.dmrg.driver") == "references"
    for stray in ("sksr.stray", "sksr.unknown.module"):
        with pytest.raises(KeyError, match=stray):
            layers.layer_of(stray)


def test_the_check_runs_as_a_command_and_import_sksr_loads_no_jax():
    result = subprocess.run([sys.executable, "-m", "sksr.pipeline.layers"], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and "every import points down" in result.stdout, result.stdout
    probe = "import sys, sksr; assert 'jax' not in sys.modules, 'import sksr imported JAX'; print(sksr.PAPER_GRID)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).returncode == 0
