"""strategy: gan_ddp (lit_translate.strategies.GANDDPStrategy): what it synchronises, that frozen and EMA
networks are never sent, and (through the CLI) that fp16 overflow and a killed-and-resumed run behave.

Fast: the in-process tests (bucketing, the lists of synchronised tensors, two forked gloo ranks averaging
gradients and buffers, a forked two-rank Trainer fit counting the bytes sent). Slow (CLI subprocesses, 30-90 s
on 2 cores): the fp16 overflow run and the killed-and-resumed run. Equivalence with one process for the
package's methods: tests/test_strategies_methods.py.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import subprocess
import sys
import traceback
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from conftest import CONFIGS, ROOT, run_cli, tiny_args
from faults import fault_env
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lit_translate.strategies import (
    GANDDPStrategy,
    SyncStats,
    all_reduce_gradients,
    buckets,
    optimizer_params,
    sync_buffers,
    trained_buffers,
)

DDP = CONFIGS / "trainer" / "ddp.yaml"
PIX2PIX, CYCLEGAN = CONFIGS / "pix2pix" / "demo.yaml", CONFIGS / "cyclegan" / "demo.yaml"
SGD = '{"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05, "momentum": 0.9}}'
PIX2PIX_INSTANCE_NORM = [
    "--model.init_args.generator.init_args.norm",
    "instance",
    "--model.init_args.generator.init_args.use_dropout",
    "false",
    "--model.init_args.discriminator.init_args.norm",
    "instance",
]


# ------------------------------------------------------------------------------------------------ in process
def test_buckets_keep_order_split_by_dtype_and_cap():
    a, b, c = torch.zeros(4), torch.zeros(4), torch.zeros(8)  # 16, 16, 32 bytes
    d = torch.zeros(2, dtype=torch.float64)
    assert [[id(t) for t in bucket] for bucket in buckets([a, d, b, c], cap_bytes=32)] == [
        [id(a), id(b)],
        [id(c)],
        [id(d)],
    ]
    big = torch.zeros(100)
    assert [len(bucket) for bucket in buckets([big, a], cap_bytes=32)] == [1, 1]  # too big: a bucket of its own


def test_cli_selects_gan_ddp_by_name_and_by_class_with_options(tmp_path):
    common = ["-c", str(DDP), "-c", str(PIX2PIX), *tiny_args(tmp_path / "run"), "--trainer.devices", "2"]
    strategy = run_cli(common).trainer.strategy  # configs/trainer/ddp.yaml: strategy: gan_ddp
    assert type(strategy) is GANDDPStrategy and strategy.buffer_sync == "average"
    assert strategy.bucket_cap_bytes == 25 * 2**20
    options = [
        "--trainer.strategy",
        "lit_translate.strategies.GANDDPStrategy",
        "--trainer.strategy.buffer_sync",
        "broadcast",
        "--trainer.strategy.bucket_cap_mb",
        "1",
    ]
    strategy = run_cli([*common, *options]).trainer.strategy
    assert type(strategy) is GANDDPStrategy and strategy.buffer_sync == "broadcast"
    assert strategy.bucket_cap_bytes == 2**20
    with pytest.raises(ValueError, match="buffer_sync"):
        GANDDPStrategy(buffer_sync="sum")


class FrozenExtrasGAN(LightningModule):
    """G and D with one optimizer each, an EMA copy of G (requires_grad=False), and a frozen feature net held as
    non-persistent buffers (as a perceptual-loss VGG is); G's features go through it in the G step."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.g = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))
        self.d = nn.Sequential(nn.Conv2d(2, 1, 1), nn.BatchNorm2d(1, affine=False))
        self.g_ema = copy.deepcopy(self.g).requires_grad_(False)
        self.features = nn.Module()
        for name, param in nn.Conv2d(2, 3, 1).named_parameters():
            self.features.register_buffer(name, param.detach().clone(), persistent=False)

    def training_step(self, batch, batch_idx):
        opt_g, opt_d = self.optimizers()
        real = batch[0].repeat(1, 2, 1, 1)
        fake = self.g(batch[0])
        opt_d.zero_grad()
        self.manual_backward(self.d(fake.detach()).mean() - self.d(real).mean())
        opt_d.step()
        feats = F.conv2d(fake, self.features.weight, self.features.bias)
        opt_g.zero_grad()
        self.manual_backward(-self.d(fake).mean() + feats.square().mean())
        opt_g.step()
        with torch.no_grad():
            for ema, p in zip(self.g_ema.parameters(), self.g.parameters()):
                ema.lerp_(p, 0.5)

    def configure_optimizers(self):
        return [torch.optim.SGD(self.g.parameters(), lr=0.1), torch.optim.SGD(self.d.parameters(), lr=0.1)]

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(12, 1, 4, 4, generator=torch.Generator().manual_seed(0))), 2)


def test_synchronised_tensors_are_the_optimizers_parameters_and_the_trained_nets_persistent_buffers():
    model = FrozenExtrasGAN()
    opt_g, opt_d = model.configure_optimizers()
    assert optimizer_params(opt_g) == list(model.g.parameters())
    trained = {id(p) for opt in (opt_g, opt_d) for p in optimizer_params(opt)}
    names = {id(b): n for n, b in model.named_buffers()}
    synced = sorted(names[id(b)] for b in trained_buffers(model, trained))
    # D's affine=False BatchNorm has no parameters but sits in a trained net: kept. EMA and features: never.
    assert synced == [
        f"{net}.1.{stat}" for net in ("d", "g") for stat in ("num_batches_tracked", "running_mean", "running_var")
    ]


# Two gloo ranks forked from this process; each runs ``fn(rank)`` and returns plain Python values.
def _rank_main(fn, rank: int, store: str, queue) -> None:
    torch.set_num_threads(1)
    try:
        dist.init_process_group("gloo", store=dist.FileStore(store, 2), rank=rank, world_size=2)
        queue.put((rank, fn(rank)))
    except BaseException:
        queue.put((rank, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def on_two_ranks(fn, tmp_path: Path) -> list:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_rank_main, args=(fn, rank, str(tmp_path / "store"), queue)) for rank in (0, 1)]
    for proc in procs:
        proc.start()
    results = dict(queue.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
    for rank in (0, 1):
        assert not isinstance(results[rank], str), results[rank]
    return [results[0], results[1]]


def _average_gradients(rank: int) -> dict:
    params = [torch.zeros(3), torch.zeros(2), torch.zeros(2), torch.zeros(5, dtype=torch.float64), torch.zeros(1)]
    params[0].grad = torch.tensor([1.0, 2.0, 3.0]) * (rank + 1)  # rank 0: 1 2 3, rank 1: 2 4 6
    params[2].grad = torch.tensor([4.0, 8.0]) if rank == 0 else None  # only rank 0 has a gradient
    params[3].grad = torch.full((5,), 10.0 * rank, dtype=torch.float64)
    params[4].grad = torch.tensor([float(rank)])  # params[1]: no gradient on any rank
    stats = SyncStats()
    all_reduce_gradients(params, cap_bytes=12, stats=stats)  # buckets [p0] [p1] [p2, p4] (float32), [p3] (float64)
    grads = [None if p.grad is None else p.grad.tolist() for p in params]
    return {"grads": grads, "collectives": stats.grad_collectives, "bytes": stats.grad_bytes}


def test_two_ranks_average_gradients_like_ddp_and_leave_missing_ones_none(tmp_path):
    first, second = on_two_ranks(_average_gradients, tmp_path)
    assert first == second
    assert first["grads"] == [[1.5, 3.0, 4.5], None, [2.0, 4.0], [5.0] * 5, [0.5]]
    # Each bucket sends its values and one presence flag per parameter.
    assert first["collectives"] == 4
    assert first["bytes"] == (3 + 1) * 4 + (2 + 1) * 4 + (2 + 1 + 2) * 4 + (5 + 1) * 8


def _sync_buffers(rank: int, mode: str) -> list:
    buffers = [torch.tensor([1.0, 3.0]) * (rank + 1), torch.tensor([7.0 + rank]), torch.tensor([rank])]
    sync_buffers(buffers, mode, cap_bytes=1 << 20)
    return [b.tolist() for b in buffers]


@pytest.mark.parametrize(
    ("mode", "expected"), [("average", [[1.5, 4.5], [7.5], [0]]), ("broadcast", [[1.0, 3.0], [7.0], [0]])]
)
def test_two_ranks_average_or_broadcast_buffers(tmp_path, mode, expected):
    assert on_two_ranks(partial(_sync_buffers, mode=mode), tmp_path) == [expected, expected]


class SyncReport(Callback):
    """Perturb the EMA copy and the frozen features on rank 1 at the start; at the end write (rank 0) which
    tensors are equal across ranks and what the strategy sent."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_start(self, trainer, pl_module):
        if trainer.global_rank == 1:
            with torch.no_grad():
                for t in [*pl_module.g_ema.parameters(), *pl_module.features.buffers()]:
                    t.add_(1.0)

    def on_train_end(self, trainer, pl_module):
        def same(tensors) -> bool:
            flat = torch.cat([t.detach().double().flatten() for t in tensors])
            return bool((pl_module.all_gather(flat) == flat).all())

        strategy = trainer.strategy
        names = {id(b): n for n, b in pl_module.named_buffers()}
        report = {
            "trained_same": same([*pl_module.g.parameters(), *pl_module.d.parameters()]),
            "buffers_same": same(strategy.synced_buffers),
            "ema_same": same(list(pl_module.g_ema.parameters())),
            "features_same": same(list(pl_module.features.buffers())),
            "synced_buffers": sorted(names[id(b)] for b in strategy.synced_buffers),
            "stats": vars(strategy.stats),
            "steps": trainer.global_step,
        }
        if trainer.is_global_zero:
            self.path.write_text(json.dumps(report))


def test_frozen_features_and_ema_copy_are_never_synchronised(tmp_path):
    """A two-rank fit (forked): only G's and D's gradients and their BatchNorm buffers are sent."""
    report_path = tmp_path / "report.json"
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy=GANDDPStrategy(start_method="fork"),
        max_epochs=1,
        limit_train_batches=2,
        callbacks=[SyncReport(report_path)],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(FrozenExtrasGAN())
    report = json.loads(report_path.read_text())
    assert report["trained_same"] and report["buffers_same"]
    assert not report["ema_same"] and not report["features_same"], "frozen tensors were synchronised"
    g_bytes = (8 + 4) * 4  # conv 2 + 2 and BatchNorm 2 + 2 values, one presence flag per parameter tensor
    d_bytes = (3 + 2) * 4  # conv 2 + 1 (its BatchNorm has no parameters)
    iterations = 2
    assert report["steps"] == 2 * iterations  # Lightning counts both optimizer steps (no TranslationModule here)
    assert report["stats"]["grad_bytes"] == iterations * (g_bytes + d_bytes)
    assert report["synced_buffers"] == [
        "d.1.num_batches_tracked",
        "d.1.running_mean",
        "d.1.running_var",
        "g.1.num_batches_tracked",
        "g.1.running_mean",
        "g.1.running_var",
    ]
    float_bytes, int_bytes = (2 + 2 + 1 + 1) * 4, 2 * 8
    assert report["stats"]["buffer_bytes"] == iterations * (float_bytes + int_bytes)


# ---------------------------------------------------------------------------------------- subprocess runs
def lit_translate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lit_translate", "fit", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=fault_env(),
        timeout=600,
    )


FP16_SCALER = (
    '{"class_path": "lightning.pytorch.plugins.precision.MixedPrecision", "init_args": {"precision": "16-mixed", '
    '"device": "cpu", "scaler": {"class_path": "torch.amp.GradScaler", '
    '"init_args": {"device": "cpu", "init_scale": 1.0}}}}'
)  # scale 1: rank 0's own fp16 gradients never overflow


class OverflowOnRank1(Callback):
    """From iteration ``step`` on, rank 1 scales its losses by 2**100: its fp16 gradients overflow, rank 0's not."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step and trainer.global_rank == 1:
            trainer.precision_plugin.scaler._scale.fill_(2.0**100)


@pytest.mark.slow
def test_fp16_overflow_on_one_rank_makes_every_rank_skip(tmp_path):
    """GradScaler: gradients are averaged before unscale_, so rank 1's inf reaches rank 0 and both skip the step
    (were the all-reduce after unscale_, or per-rank found_inf, rank 0 alone would step and the ranks diverge)."""
    args = [
        "-c",
        str(DDP),
        "-c",
        str(PIX2PIX),
        *PIX2PIX_INSTANCE_NORM,
        *tiny_args(tmp_path / "run", steps=3),
        "--trainer.devices",
        "2",
        "--trainer.limit_val_batches",
        "0",
        "--trainer.plugins",
        FP16_SCALER,
        "--trainer.callbacks+=test_strategies.OverflowOnRank1",
        "--trainer.callbacks.init_args.step=1",
    ]
    out = lit_translate(*args)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "DDP check: parameters identical on all 2 ranks" in log
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["MixedPrecision"]["scale"] < 1.0  # rank 0's scaler saw rank 1's overflows and backed off


def assert_same(a, b, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys differ"
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


@pytest.mark.slow
def test_pix2pix_batchnorm_run_killed_mid_epoch_resumes_bit_exactly(tmp_path):
    """Pix2pix demo (BatchNorm D scored on real and fake before one backward, dropout), 2 ranks, 2 epochs of 4
    iterations; SIGKILL after the checkpoint of iteration 6, resume with --ckpt_path last."""

    def fit(run: Path, *extra: str) -> subprocess.CompletedProcess:
        return lit_translate(
            "-c",
            str(DDP),
            "-c",
            str(PIX2PIX),
            *tiny_args(run, steps=4, epochs=2),
            "--trainer.devices",
            "2",
            "--trainer.deterministic",
            "true",
            "--checkpoint.every_n_train_steps",
            "3",
            *extra,
        )

    uninterrupted = fit(tmp_path / "uninterrupted")
    assert uninterrupted.returncode == 0, (uninterrupted.stdout + uninterrupted.stderr)[-4000:]
    assert "DDP check: parameters identical on all 2 ranks" in uninterrupted.stdout + uninterrupted.stderr
    assert "buffers (e.g. BatchNorm running statistics) differ" not in uninterrupted.stderr
    run = tmp_path / "run"
    killed = fit(run, "--trainer.callbacks+=faults.KillAtStep", "--trainer.callbacks.init_args.step=6")
    assert killed.returncode == -9, (killed.stdout + killed.stderr)[-4000:]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
    resumed = fit(run, "--ckpt_path", "last")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    expected = torch.load(tmp_path / "uninterrupted" / "checkpoints" / "last.ckpt", weights_only=True)
    actual = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert actual["global_step"] == 8 and len(actual["rank_states"]) == 2
    for key in ("state_dict", "optimizer_states", "lr_schedulers", "rank_states", "global_step", "epoch"):
        assert_same(expected[key], actual[key], key)
    assert not [k for k in actual["state_dict"] if "module." in k or "_orig_mod." in k]
