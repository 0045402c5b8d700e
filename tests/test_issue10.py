"""Issue 10 probes (nothing lost, nothing silently wrong), one test per defect, each reproducing the probe:

1. config mistakes that only a job noticed (after Snakemake had deleted its old outputs);
3. an audit that passed a partial tree;            4. jobs that outlived a killed Snakemake;
5. a corrupt input that was neither named nor remade; 6. config messages (file, line, one line per problem);
7. load_params accepting NaN, complex, integer or inconsistent parameters.

The interrupt and repair tests run the references stage of config/smoke.yaml for real in a temporary copy of
the workflow (about 2 minutes in all on 2 cores); the rest are dry runs or unit tests.
"""

import dataclasses
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sksr.io import atomic
from sksr.io import interrupts, provenance
from sksr.pipeline import cli, config_files
from sksr.pipeline.workflow_config import TRAINING_JOB_KEYS, ConfigError, check_config

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "config" / "smoke.yaml"
SCHEMA = config_files.load_schema()


def smoke():
    return yaml.safe_load(SMOKE.read_text())


def run(args, cwd=ROOT, timeout=300, **kwargs):
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def copy_workflow(work: Path) -> Path:
    """The workflow's files in ``work`` (results never touch the repository's own trees)."""
    work.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "src", "workflow", "config", "profiles", "envs"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, work / name)
    return work


# ---- defect 1: every rule of the job-level settings constructors is enforced by the config check -------


def _bad_candidates(default):
    """Values that probe every kind of rule a settings constructor may enforce (type, range, finiteness)."""
    values = [None, "x", [1], {"a": 1}, -1, 0, 0.5, -0.5, 1.5, 7, 10**9, math.nan, math.inf, -math.inf]
    if not isinstance(default, bool):
        values.append(True)
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        values += [default * 2 + 1, -default]
    return values


def _settings_cases():
    """(config key, section path, field, value, constructor) for every field of DMRGSettings and
    TrainingSettings (fields added later are walked too)."""
    from sksr.references.dmrg.settings import DMRGSettings
    from sksr.references.self_checked import SelfCheckSettings
    from sksr.training.settings import TrainingSettings

    cases = []
    for cls, section in ((DMRGSettings, ("references", "dmrg")), (SelfCheckSettings, ("references", "self_check")),
                         (TrainingSettings, ("training",))):
        for f in dataclasses.fields(cls):
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            values = _bad_candidates(default)
            if f.name == "chi_schedule":
                values += [[[2, 8], [1, 16]], [], [[0, 0]], [[1, 8]], [[0, 8], [0, 16]], [[0, 8, 1]]]
            for value in values:
                cases.append((cls, section, f.name, value))
    return cases


def _set(config, cls_name, section, name, value):
    if cls_name == "TrainingSettings" and name == "num_iterations":
        config["scf"]["train_iterations"] = value  # the jobs take num_iterations from scf.train_iterations
        return "scf.train_iterations"
    node = config
    for part in section:
        node = node.setdefault(part, {})
    node[name] = value
    return ".".join(section + (name,))


def test_config_check_refuses_everything_the_jobs_would_refuse():
    """Walk every field of the jobs' settings classes with values of every kind: whenever the job-level
    constructor (built from the config exactly as the job builds it) refuses a value, check_config refuses
    the same config first, naming the key; whenever it accepts, check_config does not object."""
    from sksr.pipeline.workflow_config import dmrg_settings_input, self_check_settings_input, training_settings_input

    refused = 0
    for cls, section, name, value in _settings_cases():
        config = config_files.fill_defaults(smoke(), SCHEMA)
        key = _set(config, cls.__name__, section, name, value)
        build = {
            "DMRGSettings": lambda: cls.from_dict(dmrg_settings_input(config)),
            "SelfCheckSettings": lambda: cls.from_dict(self_check_settings_input(config)),
            "TrainingSettings": lambda: cls.from_config(training_settings_input(config), ignore=TRAINING_JOB_KEYS),
        }[cls.__name__]
        try:
            build()
            job_refuses = False
        except (TypeError, ValueError):
            job_refuses = True
        try:
            check_config(config)
            config_refuses, message = False, ""
        except ConfigError as error:
            config_refuses, message = True, str(error)
        assert config_refuses == job_refuses, (key, value, message)
        if job_refuses:
            refused += 1
            assert f"- {key}:" in message or f"- {'.'.join(section)}" in message, (key, value, message)
    assert refused > 100


@pytest.mark.parametrize(
    "override, key",
    [
        ({"training": {"kept_iterations": 20}}, "training.kept_iterations"),
        ({"references": {"dmrg": {"chi_schedule": [[2, 8], [1, 16]]}}}, "references.dmrg.chi_schedule"),
        ({"references": {"dmrg": {"min_sweeps": 30, "max_sweeps": 20}}}, "references.dmrg.min_sweeps"),
    ],
)
def test_probe_configs_fail_the_dry_run_naming_file_line_and_key(tmp_path, override, key):
    path = tmp_path / "k.yaml"
    path.write_text(yaml.safe_dump(override))
    result = run([sys.executable, "-m", "snakemake", "-n", "--nolock", "--configfile", str(SMOKE), str(path)])
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert f"k.yaml:" in text and f": {key}:" in text, text[-2000:]
    assert "Job stats" not in text


def test_probe_run_keeps_finished_work(tmp_path):
    """The issue's probe: `./run_workflow.sh --configfile config/smoke.yaml k.yaml` used to delete trained
    seeds; now the config check stops it before any job, and nothing is touched."""
    work = copy_workflow(tmp_path / "w")
    seed = work / "results" / "training" / "lsda" / "seed0"
    seed.mkdir(parents=True)
    (seed / "run.json").write_text("{}")
    (work / "k.yaml").write_text("training: {kept_iterations: 20}\n")
    result = run([sys.executable, "-m", "sksr.pipeline.cli", "run", "--configfile", "config/smoke.yaml", "k.yaml"],
                 cwd=work)
    assert result.returncode != 0
    assert "k.yaml:1: training.kept_iterations" in result.stdout + result.stderr
    assert (seed / "run.json").read_text() == "{}"


# ---- defect 6: messages ----------------------------------------------------------------------------------


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  num_seeds: 3\n  models: [lsda\n")
    result = run([sys.executable, "-m", "sksr.pipeline.cli", "run", "-n", "--configfile", str(SMOKE), str(bad)])
    assert result.returncode == 1
    assert f"{bad}:4:1: YAML syntax error" in result.stderr, result.stderr
    with pytest.raises(ConfigError, match=r"bad\.yaml:4:1: YAML syntax error"):
        config_files.load_files([bad])


def test_empty_override_is_a_no_op(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing to change\n")
    calls = []
    assert cli.run_workflow(["-n", "--configfile", str(SMOKE), str(empty), "--quiet"],
                            exec_snakemake=lambda path, argv: calls.append(argv)) == 0
    assert calls[0][1:] == ["--cores", "all", "-n", "--configfile", str(SMOKE), "--quiet"]
    loaded = config_files.load_files([SMOKE, empty])
    assert loaded.empty == [str(empty)] and loaded.config == smoke()


def test_schema_error_is_one_line_naming_file_line_and_key(tmp_path):
    path = tmp_path / "schema.yaml"
    path.write_text("training:\n  num_seeds: many\ncolour: blue\n")
    result = run([sys.executable, "-m", "snakemake", "-n", "--nolock", "--configfile", str(SMOKE), str(path)])
    text = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"schema.yaml:2: training.num_seeds: 'many' is not of type 'integer'" in text, text
    assert "schema.yaml:3: colour: unknown key" in text
    assert "Failed validating" not in text and len(text.splitlines()) < 20, text


def test_invalid_system_is_not_also_reported_unknown():
    config = smoke()
    config["systems"]["He"]["n_electrons"] = 7
    with pytest.raises(ConfigError) as error:
        check_config(config)
    lines = str(error.value).splitlines()[1:]
    assert len(lines) == 1 and "systems.He:" in lines[0], lines


# ---- defect 7: loose loading of parameters --------------------------------------------------------------


@pytest.fixture
def saved_params(tmp_path):
    from sksr.functionals.neural import NeuralXCSpec, init_params, save_params

    spec = NeuralXCSpec(kind="lsda")
    save_params(tmp_path / "best", spec, init_params(spec, 0))
    return tmp_path / "best"


def _edit_array(stem, edit):
    arrays = dict(np.load(f"{stem}.npz"))
    edit(arrays)
    np.savez(f"{stem}.npz", **arrays)


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda a: a["dense_0"].__setitem__((0, 0), np.nan), "non-finite"),
        (lambda a: a["dense_1"].__setitem__((0, 0), np.inf), "non-finite"),
        (lambda a: a.update(dense_0=a["dense_0"].astype(np.complex128)), "complex128"),
        (lambda a: a.update(dense_0=a["dense_0"].astype(np.int64)), "int64"),
        (lambda a: a.update(dense_0=a["dense_0"][:1]), "shape"),
    ],
)
def test_load_params_refuses_bad_arrays(saved_params, edit, words):
    from sksr.functionals.neural import load_params

    load_params(saved_params)
    _edit_array(saved_params, edit)
    with pytest.raises(ValueError, match=words) as error:
        load_params(saved_params)
    assert "best.npz" in str(error.value)


def test_load_params_refuses_edited_json(saved_params):
    from sksr.functionals.neural import load_params

    path = Path(f"{saved_params}.json")
    record = json.loads(path.read_text())
    record["shapes"]["dense_0"] = [3, 16]
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="shapes"):
        load_params(saved_params)
    path.write_text(path.read_text()[:30])
    with pytest.raises(atomic.CorruptFileError, match="best.json"):
        load_params(saved_params)


# ---- defect 5: corrupt files are named ------------------------------------------------------------------


def test_readers_name_the_corrupt_file(tmp_path):
    from sksr.training.datasets import load_dataset

    path = tmp_path / "train.npz"
    np.savez(path, energies=np.zeros(3000))
    os.truncate(path, 6000)
    for reader in (atomic.read_npz, load_dataset):
        with pytest.raises(atomic.CorruptFileError, match=str(path)):
            reader(path)
    record = tmp_path / "record.json"
    record.write_text('{"outputs": ')
    with pytest.raises(atomic.CorruptFileError, match=str(record)):
        provenance.load_record(record)


class _FakeSnakemake:
    """The parts of the ``snakemake`` object that ``snakemake_job`` reads."""

    def __init__(self, tmp_path, inputs):
        self.rule, self.wildcards, self.config = "dataset", {}, {}
        self.input, self.log = list(inputs), [str(tmp_path / "job.log")]
        self.output = type("Output", (list,), {})([str(tmp_path / "out.npz"), str(tmp_path / "record.json")])
        self.output.provenance = str(tmp_path / "record.json")
        self.params = type("Params", (), {"settings": {}})()


def test_a_job_that_fails_on_a_corrupt_input_names_it(tmp_path):
    """A library reader that does not name its file (np.load -> BadZipFile) still yields a message naming
    the corrupt input, with the command that removes it."""
    reference = tmp_path / "He.npz"
    np.savez(reference, density=np.zeros(3000))
    os.truncate(reference, 6000)
    with pytest.raises(atomic.CorruptFileError) as error:
        with provenance.snakemake_job(_FakeSnakemake(tmp_path, [str(reference)])):
            np.load(reference)["density"]
    assert str(reference) in str(error.value) and "sksr audit --repair" in str(error.value)
    assert str(reference) in (tmp_path / "job.log").read_text()


_STOPPED_JOB = """
import sys, time
sys.path.insert(0, {src!r})
from pathlib import Path
from sksr.io import provenance

class Output(list):
    pass

class Smk:
    rule, wildcards, config, input = "dataset", {{}}, {{}}, []
    log = [{log!r}]
    output = Output([{out!r}, {record!r}])
    output.provenance = {record!r}
    params = type("Params", (), {{"settings": {{}}}})()

with provenance.snakemake_job(Smk()):
    Path({out!r}).write_bytes(b"half of a result")
    Path({out!r}).with_name(".out.npz.abc.tmp").write_bytes(b"temporary")
    Path({ready!r}).touch()
    time.sleep(120)
"""


def _stopped_job_exit(tmp_path, edit=lambda body: body, before_signal=lambda: None) -> int:
    """Run ``_STOPPED_JOB`` (its text passed through ``edit``), SIGTERM it once it has written its output,
    and return its exit status."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    names = {k: str(tmp_path / f) for k, f in
             dict(log="job.log", out="out.npz", record="record.json", ready="ready").items()}
    script = tmp_path / "job.py"
    script.write_text(edit(_STOPPED_JOB.format(src=src, **names)))
    job = subprocess.Popen([sys.executable, str(script)], env=dict(os.environ, SKSR_RUNNER=""))
    try:
        deadline = time.time() + 60
        while not os.path.exists(names["ready"]) and time.time() < deadline:
            assert job.poll() is None, (tmp_path / "job.log").read_text()
            time.sleep(0.1)
        before_signal()
        job.send_signal(signal.SIGTERM)
        return job.wait(timeout=30)
    finally:
        job.kill()


def test_a_stopped_job_takes_back_what_it_wrote(tmp_path):
    """SIGTERM to a job that has written an output but not yet its record: the job removes the output
    (and its writers' temporary files), writes no record, logs that it will be rerun and exits with 143."""

    def output_written():
        assert (tmp_path / "out.npz").exists()

    assert _stopped_job_exit(tmp_path, before_signal=output_written) == interrupts.LOST_EXIT_STATUS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["job.log", "job.py", "ready"]
    log = (tmp_path / "job.log").read_text()
    assert "stopped by signal 15" in log and "will be rerun" in log and "removed" in log


def test_an_interrupted_job_leaves_no_output_without_record(tmp_path):
    """Ctrl-C inside a job (KeyboardInterrupt) propagates, and the job's outputs go with it."""
    smk = _FakeSnakemake(tmp_path, [])
    with pytest.raises(KeyboardInterrupt):
        with provenance.snakemake_job(smk):
            (tmp_path / "out.npz").write_bytes(b"half of a result")
            raise KeyboardInterrupt
    assert not (tmp_path / "out.npz").exists() and not (tmp_path / "record.json").exists()


# ---- defects 3, 4, 5 on the smoke references stage, for real ----------------------------------------------

SLOW_DMRG = "references:\n  dmrg:\n    energy_tolerance: 1.0e-13\n    max_truncation_error: 1.0e-13\n" \
            "    min_sweeps: 30\n    max_sweeps: 40\n"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A copy of the workflow (results never touch the repository's own trees)."""
    work = copy_workflow(tmp_path_factory.mktemp("workflow"))
    (work / "slow.yaml").write_text(SLOW_DMRG)
    return work


def _clean(work):
    for name in ("results", "logs", ".snakemake", "benchmarks"):
        shutil.rmtree(work / name, ignore_errors=True)


def _descendants(pid):
    children = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["INT", "TERM", "KILL"])
def test_stopping_the_runner_stops_its_jobs(workdir, signum):
    """Defect 4: SIGINT, SIGTERM or SIGKILL sent to the runner's PID alone (what ./run_workflow.sh execs)
    leaves no job running, and no job output appears afterwards; the killed jobs are rerun next time."""
    _clean(workdir)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    env.pop("SKSR_RUNNER", None)
    runner = subprocess.Popen(
        [sys.executable, "-m", "sksr.pipeline.cli", "run", "references", "--configfile", "config/smoke.yaml",
         "slow.yaml"],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # wait until a DMRG job runs (its log says so)
            if any("rule reference" in p.read_text() for p in (workdir / "logs" / "reference").glob("*.log")):
                break
            assert runner.poll() is None, "the runner ended before any job started"
            time.sleep(0.2)
        time.sleep(1.0)
        jobs = _descendants(runner.pid)
        assert jobs, "no job process found"
        os.kill(runner.pid, signum)
        runner.wait(timeout=60)
        deadline = time.time() + 20
        while time.time() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in jobs):
            time.sleep(0.2)
        alive = [pid for pid in jobs if os.path.exists(f"/proc/{pid}")]
        assert not alive, f"job processes still running after {signal.Signals(signum).name}: {alive}"
    finally:
        for pid in [runner.pid] + _descendants(runner.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    snapshot = sorted(str(p) for p in (workdir / "results").rglob("*"))
    time.sleep(2)
    assert sorted(str(p) for p in (workdir / "results").rglob("*")) == snapshot, "a job wrote after the stop"
    # nothing looks complete: no reference without its provenance record; no record of an unfinished job
    records = {p.stem for p in (workdir / "results" / "provenance" / "reference").glob("*.json")}
    made = {p.stem for p in (workdir / "results" / "references").glob("*.npz")}
    assert made <= records, f"outputs without a record: {made - records}"
    logs = {p.stem: p.read_text() for p in (workdir / "logs" / "reference").glob("*.log")}
    assert any("rerun" in text for text in logs.values()) or signum == signal.SIGINT, logs
    assert all("done in" in logs[name] for name in records)
    _clean(workdir)


def test_partial_tree_fails_the_audit_and_corrupt_input_is_repaired(workdir):
    """Defect 3: a tree with only the references stage fails the audit of the smoke config (MISSING per
    absent output). Defect 5: a truncated reference is named, removed by --repair, and remade next run."""
    _clean(workdir)
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    smk = [sys.executable, "-m", "snakemake", "--nolock", "--cores", "2"]
    built = run(smk + ["references", "--configfile", "config/smoke.yaml"], cwd=workdir, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    audit = [sys.executable, "-m", "sksr.pipeline.cli", "audit", "results", "figures", "--configfile",
             "config/smoke.yaml"]
    partial = run(audit, cwd=workdir)
    assert partial.returncode == 1
    assert "MISSING      figures/tables/total_energies.csv" in partial.stdout
    assert "MISSING      results/datasets/train.npz" in partial.stdout
    stage = run(audit[:5] + ["--configfile", "config/smoke.yaml", "--target", "references"], cwd=workdir)
    assert stage.returncode == 0, stage.stdout

    os.truncate(workdir / "results" / "references" / "He.npz", 6000)
    found = run(audit[:5] + ["--configfile", "config/smoke.yaml", "--target", "references"], cwd=workdir)
    assert found.returncode == 1 and "CORRUPT      results/references/He.npz" in found.stdout, found.stdout
    repaired = run(audit[:5] + ["--configfile", "config/smoke.yaml", "--target", "references", "--repair"],
                   cwd=workdir)
    assert "removed      results/references/He.npz" in repaired.stdout
    assert "removed      results/references/summary.csv" in repaired.stdout  # downstream of He: remade too
    assert not (workdir / "results" / "provenance" / "reference" / "He.json").exists()
    plan = run([sys.executable, "-m", "snakemake", "-n", "--nolock", "references", "--configfile",
                "config/smoke.yaml"], cwd=workdir)
    assert plan.returncode == 0
    assert "wildcards: system=He\n" in plan.stdout and plan.stdout.count("rule reference:") == 1, plan.stdout
    assert "reference_summary" in plan.stdout  # downstream of the remade reference
    _clean(workdir)


def test_a_job_stops_once_under_repeated_signals(tmp_path):
    """Snakemake repeats SIGTERM every fraction of a second: a job signalled again while it is already
    stopping (the second handler runs inside the first) must still exit, not wait on its own lock."""
    # every removal re-signals the job from inside its own stop (the window a repeated SIGTERM hits)
    def resignal(body):
        return body.replace("from sksr.io import provenance", "from sksr.io import provenance\n"
                            "import os, signal\n_discard = provenance.discard_unrecorded_outputs\n"
                            "def _resignal(paths):\n    os.kill(os.getpid(), signal.SIGTERM)\n"
                            "    return _discard(paths)\nprovenance.discard_unrecorded_outputs = _resignal")

    assert _stopped_job_exit(tmp_path, edit=resignal) == interrupts.LOST_EXIT_STATUS
    assert not (tmp_path / "out.npz").exists() and not (tmp_path / "record.json").exists()
