"""Launchers: the SLURM and torchrun scripts (under a fake srun/torchrun), Docker docs, the GPU-expected warning."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from conftest import CONFIGS, DEMOS, RECIPES, ROOT, config_id, tiny_args
from lightning.pytorch.accelerators import CPUAccelerator

from lit_translate.callbacks import EnvironmentCheck, environment
from lit_translate.cli import main

SBATCH = ROOT / "scripts" / "slurm.sbatch"
TORCHRUN = ROOT / "scripts" / "torchrun.sh"
FAKE = """#!/bin/bash
echo "SRUN_CPUS_PER_TASK=${{SRUN_CPUS_PER_TASK:-}} VENV_ACTIVE=${{VENV_ACTIVE:-}}" > "{out}"
printf '%s\\n' "$0" "$@" >> "{out}"
"""


@pytest.mark.parametrize("script", [SBATCH, TORCHRUN], ids=lambda p: p.name)
def test_script_parses_lints_and_uses_the_variables_it_documents(script):
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True).returncode == 0
    assert os.access(script, os.X_OK), f"{script.name} is not executable"
    text = script.read_text()
    documented = re.search(r"^# Variables[^:]*:(.*?)\.", text, re.M | re.S)
    names = re.findall(r"\b([A-Z][A-Z_]+)\b", documented[1].replace("#", "")) if documented else []
    assert {"VENV", "RECIPE", "DATA_ROOT", "RUN"} <= set(names), f"{script.name} documents {names}"
    body = text.split("set -euo pipefail", 1)[1]
    assert all(f"${{{name}" in body for name in names), f"{script.name}: a documented variable is not used"
    if shutil.which("shellcheck"):
        lint = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout


def sbatch_options(script: Path) -> dict[str, str]:
    """The ``#SBATCH --key=value`` directives before the first command, as SLURM reads them."""
    options = {}
    for line in script.read_text().splitlines():
        if line and not line.startswith("#"):
            break
        if match := re.match(r"#SBATCH\s+--([\w-]+)(?:=(\S+))?", line):
            options[match[1]] = match[2] or ""
    return options


def test_sbatch_log_goes_where_slurm_can_open_it():
    """SLURM opens --output before the script runs: a folder in that path must already exist in a fresh clone."""
    output = sbatch_options(SBATCH)["output"]
    folder = Path(output).parent
    assert folder == Path(".") or (ROOT / folder).is_dir(), f"--output={output}: {folder}/ does not exist"
    assert {"requeue", "signal", "ntasks-per-node", "gpus-per-node", "cpus-per-task"} <= set(sbatch_options(SBATCH))


@pytest.fixture
def fake_launchers(tmp_path):
    """A PATH with fake srun/torchrun that record their arguments, and a virtualenv whose activate is recorded."""
    bin_dir, out = tmp_path / "bin", tmp_path / "launched.txt"
    bin_dir.mkdir()
    for name in ("srun", "torchrun"):
        (bin_dir / name).write_text(FAKE.format(out=out))
        (bin_dir / name).chmod(stat.S_IRWXU)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "activate").write_text("export VENV_ACTIVE=yes\n")
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "VENV": str(venv)}

    def launch(script: Path, extra_env: dict[str, str], *args: str) -> SimpleNamespace:
        out.unlink(missing_ok=True)
        done = subprocess.run(
            ["bash", str(script), *args], cwd=ROOT, env={**env, **extra_env}, capture_output=True, text=True
        )
        lines = out.read_text().splitlines() if out.exists() else []
        return SimpleNamespace(done=done, env=lines[0] if lines else "", argv=lines[1:])

    return launch


def option(argv: list[str], key: str) -> str | None:
    return argv[argv.index(key) + 1] if key in argv else None


SLURM_ENV = {
    "SLURM_JOB_NAME": "pix2pix-facades",
    "SLURM_JOB_ID": "4242",
    "SLURM_NTASKS_PER_NODE": "4",
    "SLURM_JOB_NUM_NODES": "2",
    "SLURM_CPUS_PER_TASK": "8",
    "SLURM_SUBMIT_DIR": str(ROOT),
}


def test_sbatch_builds_the_documented_command_in_a_run_dir_of_its_own(fake_launchers, tmp_path):
    first = fake_launchers(SBATCH, SLURM_ENV)
    assert first.done.returncode == 0, first.done.stderr
    assert "SRUN_CPUS_PER_TASK=8" in first.env, "srun (Slurm >= 22.05) must get --cpus-per-task explicitly"
    assert "VENV_ACTIVE=yes" in first.env, "the script must activate the environment"
    argv = first.argv
    assert argv[1:4] == ["--kill-on-bad-exit=1", "lit-translate", "fit"]
    assert option(argv, "--trainer.default_root_dir") == "runs/pix2pix-facades-4242"
    assert (option(argv, "--trainer.devices"), option(argv, "--trainer.num_nodes")) == ("4", "2")
    assert "--ckpt_path" not in argv, "a new job has nothing to resume"
    assert "--data.root" not in argv, "without DATA_ROOT the recipe's data.root is the one default"
    assert option(argv, "-c") == "configs/trainer/ddp.yaml" and "configs/pix2pix/facades.yaml" in argv

    other = fake_launchers(SBATCH, {**SLURM_ENV, "SLURM_JOB_ID": "4243"})
    assert option(other.argv, "--trainer.default_root_dir") == "runs/pix2pix-facades-4243", "same name, new run"

    run = tmp_path / "runs" / "old"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    env = {**SLURM_ENV, "RUN": str(run), "DATA_ROOT": "/shared/facades"}
    again = fake_launchers(SBATCH, env, "--trainer.max_epochs", "300")
    assert option(again.argv, "--trainer.default_root_dir") == str(run)
    assert option(again.argv, "--ckpt_path") == "last" and option(again.argv, "--data.root") == "/shared/facades"
    assert again.argv[-2:] == ["--trainer.max_epochs", "300"], "extra arguments go to lit-translate fit"
    array = fake_launchers(SBATCH, {**SLURM_ENV, "SLURM_ARRAY_JOB_ID": "4000", "SLURM_ARRAY_TASK_ID": "3"})
    assert option(array.argv, "--trainer.default_root_dir") == "runs/pix2pix-facades-4000_3"


def test_torchrun_script_requires_a_run_dir_and_builds_the_command(fake_launchers):
    missing = fake_launchers(TORCHRUN, {"NODE_RANK": "0", "MASTER_ADDR": "node0"})
    assert missing.done.returncode != 0 and "set RUN" in missing.done.stderr and not missing.argv
    done = fake_launchers(TORCHRUN, {"RUN": "runs/h2z-001", "NODE_RANK": "1", "MASTER_ADDR": "node0"})
    assert done.done.returncode == 0, done.done.stderr
    argv = done.argv
    assert "VENV_ACTIVE=yes" in done.env and option(argv, "--node_rank") == "1"
    assert option(argv, "--rdzv_endpoint") == "node0:29500" and option(argv, "-m") == "lit_translate"
    assert option(argv, "--trainer.default_root_dir") == "runs/h2z-001" and "--ckpt_path" not in argv
    assert "--data.root" not in argv and "configs/cyclegan/horse2zebra.yaml" in argv


def test_one_data_root_default_across_scripts_docs_and_recipes():
    """The recipes' data.root (data/<dataset>) is the only default; no script or doc teaches another one."""
    for recipe in ("pix2pix/facades.yaml", "cyclegan/horse2zebra.yaml"):
        assert re.search(r"root: data/\w+", (CONFIGS / recipe).read_text()), recipe
    for path in (SBATCH, TORCHRUN, ROOT / "docs" / "distributed.md", ROOT / "README.md", ROOT / "Dockerfile"):
        assert "datasets/" not in path.read_text(), f"{path.name} still uses datasets/ as the data root"


# ---------------------------------------------------------------------------------------------------- Docker
def test_readme_docker_run_mounts_runs_and_the_torch_cache_with_ipc_host():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Docker") :].split("\n## ", 1)[0]
    run = " ".join(line.strip(" \\") for line in section.split("```bash", 1)[1].split("```")[0].splitlines())
    for part in ("--gpus all", "--ipc=host", ":/workspace/runs", ":/cache/torch"):
        assert part in run, f"README docker run lacks {part}: {run}"
    assert "TORCH_HOME=/cache/torch" in (ROOT / "Dockerfile").read_text()


def test_dockerfile_states_the_driver_its_cuda_and_torch_wheels_need():
    dockerfile = (ROOT / "Dockerfile").read_text()
    image_cuda = re.search(r"FROM nvidia/cuda:(\d+)\.(\d+)", dockerfile)
    assert image_cuda and "driver >= 580" in dockerfile and "driver >= 580" in (ROOT / "README.md").read_text()
    assert image_cuda[1] == "13", "driver >= 580 is the CUDA 13 requirement: update the docs with the base image"
    if torch.version.cuda:  # the wheels the constraints pin bring CUDA 13.0 as well
        assert torch.version.cuda.split(".")[0] == image_cuda[1], f"torch wheels use CUDA {torch.version.cuda}"


# ------------------------------------------------------------------------------------- GPU-expected warning
@pytest.fixture
def no_launcher(monkeypatch, tmp_path):
    for name in ("SLURM_JOB_ID", "TORCHELASTIC_RUN_ID", "LOCAL_RANK", "APPTAINER_CONTAINER", "SINGULARITY_CONTAINER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(environment, "CONTAINER_MARKERS", (tmp_path / ".dockerenv",))
    return tmp_path / ".dockerenv"


@pytest.mark.parametrize(
    ("variable", "where"),
    [("SLURM_JOB_ID", "SLURM"), ("TORCHELASTIC_RUN_ID", "torchrun"), ("LOCAL_RANK", "torchrun"), (None, None)],
)
def test_launcher_is_read_from_the_environment(no_launcher, monkeypatch, variable, where):
    if variable:
        monkeypatch.setenv(variable, "7")
    assert environment.launcher() == where


def test_a_docker_container_is_recognised(no_launcher):
    assert environment.launcher() is None
    no_launcher.touch()
    assert environment.launcher() == "a container"


def fit_setup(expect_gpu: bool, accelerator, requested: str = "auto") -> None:
    trainer = SimpleNamespace(accelerator=accelerator, accelerator_requested=requested)
    EnvironmentCheck(expect_gpu).setup(trainer, None, "fit")


def test_gpu_recipe_on_cpu_warns_loudly_only_under_a_launcher(no_launcher, monkeypatch, recwarn):
    fit_setup(True, CPUAccelerator())  # a laptop: deliberate
    monkeypatch.setenv("SLURM_JOB_ID", "1")
    fit_setup(False, CPUAccelerator())  # a CPU demo
    fit_setup(True, object())  # a GPU accelerator
    fit_setup(True, CPUAccelerator(), requested="cpu")  # --trainer.accelerator cpu: a choice, not a fallback
    assert not [w for w in recwarn if "MADE FOR GPUs" in str(w.message)]
    with pytest.warns(UserWarning, match=r"(?s)MADE FOR GPUs BUT TRAINS ON CPU, under SLURM.*--gpus-per-node"):
        fit_setup(True, CPUAccelerator())
    no_launcher.touch()
    monkeypatch.delenv("SLURM_JOB_ID")
    with pytest.warns(UserWarning, match=r"(?s)under a container.*docker run --gpus all.*>= 580"):
        fit_setup(True, CPUAccelerator())


@pytest.mark.parametrize("recipe", RECIPES, ids=config_id)
def test_paper_recipes_say_they_expect_gpus_and_demos_do_not(recipe):
    """How a recipe says it is made for GPUs: ``environment: {expect_gpu: true}`` (``test_configs`` parses it)."""
    expect_gpu = (yaml.safe_load(recipe.read_text()).get("environment") or {}).get("expect_gpu", False)
    assert expect_gpu == (recipe not in DEMOS), f"{recipe}: paper recipes set environment.expect_gpu, demos do not"


@pytest.mark.skipif(torch.cuda.is_available(), reason="accelerator auto picks the GPU here")
def test_fit_of_a_gpu_recipe_on_cpu_under_slurm_warns(no_launcher, monkeypatch, tmp_path):
    monkeypatch.setenv("SLURM_JOB_ID", "99")
    args = ["fit", "-c", str(CONFIGS / "pix2pix" / "demo.yaml"), *tiny_args(tmp_path / "run", steps=1)]
    args += ["--trainer.accelerator", "auto"]  # what the recipes use; tiny_args asks for cpu explicitly
    with pytest.warns(UserWarning, match="MADE FOR GPUs BUT TRAINS ON CPU, under SLURM"):
        main(
            [*args, "--environment.expect_gpu", "true", "--trainer.max_steps", "1", "--trainer.limit_val_batches", "0"]
        )
