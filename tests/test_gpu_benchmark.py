"""benchmarks/gpu.sh: the plan covers every method, and its --dry-run runs the same code on CPU."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import CONFIGS, ROOT
from faults import fault_env

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu  # noqa: E402

METHODS = sorted(p.name for p in CONFIGS.iterdir() if p.is_dir() and p.name != "trainer")


def test_every_method_has_a_paper_recipe_and_a_demo_in_the_plan():
    assert sorted(r.parent.name for r in gpu.paper_recipes(dry_run=False)) == METHODS
    assert sorted(r.parent.name for r in gpu.paper_recipes(dry_run=True)) == METHODS
    assert all(r.stem != "demo" for r in gpu.paper_recipes(dry_run=False))


def test_the_plan_runs_the_most_important_rows_first():
    recipes = gpu.paper_recipes(dry_run=False)
    runs = gpu.plan(recipes, [None, 16])
    assert len(runs) == len(recipes) * 2 * len(gpu.MODES)
    first = runs[: 2 * len(recipes)]
    assert {(r.batch_size, r.mode) for r in first} == {(0, "fp32"), (0, "bf16")}
    assert runs[-1].batch_size == 16 and runs[-1].mode == "bf16+cl+compile"


@pytest.mark.slow
def test_dry_run_writes_a_row_per_method_and_mode(tmp_path):
    out = tmp_path / "rows.md"
    done = subprocess.run(
        ["bash", "benchmarks/gpu.sh", "--dry-run", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=fault_env(PYTHON=sys.executable),
        timeout=900,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 20")]
    assert len(rows) == len(METHODS) * len(gpu.MODES), rows
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[5].split()[0]) > 0, row  # it/s
        if cells[4] != "bf16+cl+compile":
            assert float(cells[7]) > 0, row  # GFLOP per iteration counted
