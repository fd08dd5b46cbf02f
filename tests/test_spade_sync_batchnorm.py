"""SPADE's synchronised batch norm under gan_ddp on CPU: 2 ranks at batch b train as 1 process at batch 2b.

``--trainer.sync_batchnorm true`` converts the SPADE generator's ``BatchNorm2d`` (``norm_G
spectralspadesyncbatch3x3``) to ``SyncBatchNorm``, which torch runs only on GPUs; gan_ddp retypes it to
``lit_translate.nets.sync_batchnorm.CPUSyncBatchNorm`` so that CPU processes synchronise the batch statistics.
The pattern of ``tests/test_distributed.py::test_ddp_with_batch_b_equals_one_process_with_batch_2b``.
"""

from __future__ import annotations

import pytest
import torch
from conftest import CONFIGS, run_cli, tiny_args
from test_distributed import DDP, lit_translate

SPADE = CONFIGS / "spade" / "demo.yaml"
SGD = '{"class_path": "torch.optim.SGD", "init_args": {"lr": 0.001}}'  # small: rounding noise stays small
STEPS = 1  # the GAN amplifies float rounding: after 2 steps ~5e-4 apart already (unsynced: 7e-3 after 1)


def test_cpu_sync_batchnorm_equals_batch_norm_in_one_process():
    """Without a process group the layer is plain batch norm (the single-process side of the comparison)."""
    from lit_translate.nets.sync_batchnorm import CPUSyncBatchNorm, use_cpu_sync

    net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.Sequential(torch.nn.BatchNorm2d(3)))
    assert use_cpu_sync(net) == 1 and isinstance(net[0], CPUSyncBatchNorm)
    x = torch.randn(4, 3, 5, 5)
    torch.testing.assert_close(net(x), torch.nn.functional.batch_norm(x, None, None, training=True))


@pytest.mark.slow
def test_spade_sync_batchnorm_ddp_with_batch_b_equals_one_process_with_batch_2b(tmp_path):
    common = ["-c", str(SPADE), "--model.init_args.optimizer_g", SGD, "--model.init_args.optimizer_d", SGD]
    common += ["--trainer.limit_val_batches", "0", "--trainer.max_steps", str(STEPS)]  # limit 1 = 100 %
    ddp_args = [*common, *tiny_args(tmp_path / "ddp", steps=STEPS), "--trainer.limit_val_batches", "0"]
    ddp_args += ["--trainer.devices", "2", "--data.batch_size", "2", "--trainer.sync_batchnorm", "true"]
    single_args = [*common, *tiny_args(tmp_path / "single", steps=STEPS), "--trainer.limit_val_batches", "0"]
    single_args += ["--data.batch_size", "4"]
    ddp = lit_translate("fit", "-c", str(DDP), *ddp_args)
    assert ddp.returncode == 0, (ddp.stdout + ddp.stderr)[-4000:]
    single = lit_translate("fit", *single_args)
    assert single.returncode == 0, (single.stdout + single.stderr)[-4000:]
    a = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "single" / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == STEPS
    floats = [k for k, v in a["state_dict"].items() if v.is_floating_point()]
    stats = [k for k in floats if "running_" in k]
    params = [k for k in floats if k not in stats and "._u" not in k and "._v" not in k]

    def worst(keys: list[str]) -> float:
        return max((a["state_dict"][k].double() - b["state_dict"][k].double()).abs().max().item() for k in keys)

    # Without the sync (per-rank batch statistics) these are ~7e-3 and ~1.5 after one step; float rounding ~1e-5.
    assert worst(params) <= 1e-4, f"largest weight difference, 2 synced ranks vs one process: {worst(params):.3g}"
    assert worst(stats) <= 1e-2, f"largest running-statistics difference: {worst(stats):.3g}"
    initial = run_cli(single_args).model.state_dict()  # same seed, untrained
    moved = max((a["state_dict"][k].double() - initial[k].double()).abs().max().item() for k in floats)
    assert moved > 1e-3, "training did not change the weights, so the comparison above proves nothing"
