"""Each private-API shim of lit_translate/compat.py still works on the installed Lightning / torchmetrics.

When an upgrade moves or renames what a shim reaches into, the failing test names the shim and the versions it
was verified on, so the fix is one function in compat.py rather than a hunt through the package.
"""

from __future__ import annotations

import inspect
import os
from datetime import timedelta

import lightning
import pytest
import torch
import torchmetrics
from lightning.pytorch import Trainer
from lightning.pytorch.core.mixins import hparams_mixin
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.loggers import WandbLogger

from lit_translate import compat
from lit_translate.callbacks import RunCheckpoint

INSTALLED = f"lightning {lightning.__version__}, torchmetrics {torchmetrics.__version__}"


def broken(shim: str, detail: str) -> str:
    return f"compat shim {shim} (verified on {compat.VERIFIED}) is broken on {INSTALLED}: {detail}"


def test_cli_hyperparameters_reads_lightnings_context():
    assert compat.cli_hyperparameters() is None, broken("cli_hyperparameters", "set outside the CLI")
    try:
        context = hparams_mixin._given_hyperparameters_context
    except AttributeError:
        pytest.fail(broken("cli_hyperparameters", "_given_hyperparameters_context is gone"))
    with context({"lr": 1.0}, "lightning.pytorch.cli.instantiate_module"):
        given = compat.cli_hyperparameters()
        assert given is not None and given["lr"] == 1.0, broken("cli_hyperparameters", "context not seen")


def test_step_uncounted_disables_only_the_counting_hooks():
    parameter = torch.nn.Parameter(torch.ones(2))
    optimizer = LightningOptimizer(torch.optim.SGD([parameter], lr=1.0))
    for name in ("_on_before_step", "_on_after_step"):
        assert callable(getattr(optimizer, name, None)), broken("step_uncounted", f"LightningOptimizer.{name} is gone")
    calls = []
    optimizer._on_before_step = lambda: calls.append("before")
    optimizer._on_after_step = lambda: calls.append("after")
    optimizer._strategy = type("S", (), {"optimizer_step": lambda self, opt, closure, **kw: opt.step(closure)})()
    parameter.grad = torch.ones(2)
    compat.step_uncounted(optimizer)
    assert calls == [], broken("step_uncounted", "the counting hooks still ran")
    assert torch.equal(parameter.detach(), torch.zeros(2)), broken("step_uncounted", "the optimizer did not step")
    assert optimizer._on_before_step() is None and calls == ["before"], broken("step_uncounted", "hooks not restored")


def test_batches_done_reads_the_epoch_loop_progress():
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu")
    try:
        assert compat.batches_done(trainer) == 0
    except AttributeError as error:
        pytest.fail(broken("batches_done", str(error)))


def test_between_batches_reads_the_epoch_loop_counters():
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, accelerator="cpu")
    trainer.fit_loop.epoch_loop.batch_progress.increment_by(3)  # 3 batches done: ready = ... = completed = 3
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "num_training_batches", 8)
        try:
            assert compat.between_batches(trainer), broken("between_batches", "3 of 8 batches done is a boundary")
            trainer.fit_loop.epoch_loop.batch_progress.increment_started()  # a batch in progress
            assert not compat.between_batches(trainer), broken("between_batches", "a started batch is no boundary")
        except AttributeError as error:
            pytest.fail(broken("between_batches", str(error)))


class _EveryOtherStep(lightning.pytorch.LightningModule):
    """Logs ``train/a`` at every step and ``train/b`` at even steps only (like StarGAN's G every n_critic)."""

    def __init__(self, forget: bool) -> None:
        super().__init__()
        self.forget, self.layer = forget, torch.nn.Linear(1, 1)

    def on_train_batch_start(self, batch, batch_idx):
        if self.forget:
            compat.forget_step_values(self.trainer)

    def training_step(self, batch, batch_idx):
        self.log("train/a", float(batch_idx), on_step=True, on_epoch=False)
        if batch_idx % 2 == 0:
            self.log("train/b", float(batch_idx), on_step=True, on_epoch=False)
        return self.layer(batch[0]).sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 1)), batch_size=1)


class _Rows(lightning.pytorch.loggers.Logger):
    name, version = "rows", "0"
    rows: list

    def log_hyperparams(self, *args, **kwargs):
        pass

    def log_metrics(self, metrics, step=None):
        self.rows.append(sorted(k for k in metrics if k.startswith("train/")))


@pytest.mark.parametrize("forget", [False, True])
def test_forget_step_values_drops_values_logged_at_an_earlier_step(forget):
    logger = _Rows()
    logger.rows = []
    trainer = Trainer(logger=logger, log_every_n_steps=1, max_epochs=1, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, accelerator="cpu")  # fmt: skip
    try:
        trainer.fit(_EveryOtherStep(forget))
    except AttributeError as error:
        pytest.fail(broken("forget_step_values", str(error)))
    stale = [["train/a", "train/b"]] * 4  # Lightning alone repeats train/b at the odd steps
    assert logger.rows == ([["train/a", "train/b"], ["train/a"]] * 2 if forget else stale)


CHECKPOINT_METHODS = {
    "_monitor_candidates": ["trainer"],
    "_save_last_checkpoint": ["trainer", "monitor_candidates"],
    "_save_topk_checkpoint": ["trainer", "monitor_candidates"],
    "_should_skip_saving_checkpoint": ["trainer"],
}
CHECKPOINT_ATTRIBUTES = (
    "_defer_save_until_validation",
    "_last_global_step_saved",
    "_every_n_train_steps",
    "_train_time_interval",
    "_last_time_checked",
    "_every_n_epochs",
)


@pytest.mark.parametrize("method", sorted(CHECKPOINT_METHODS))
def test_model_checkpoint_methods_the_shims_call(method):
    function = getattr(RunCheckpoint, method, None)
    assert callable(function), broken(f"ModelCheckpoint.{method}", "the method is gone")
    parameters = list(inspect.signature(function).parameters)[1:]
    assert parameters == CHECKPOINT_METHODS[method], broken(f"ModelCheckpoint.{method}", f"signature {parameters}")


def test_model_checkpoint_attributes_the_shims_read_and_write():
    callback = RunCheckpoint(every_n_train_steps=3, train_time_interval=timedelta(minutes=5), every_n_epochs=2)
    for name in CHECKPOINT_ATTRIBUTES:
        assert hasattr(callback, name), broken("ModelCheckpoint attributes", f"{name} is gone")
    assert compat.train_step_interval(callback) == 3
    assert compat.train_time_interval(callback) == timedelta(minutes=5)
    assert callback._every_n_epochs == 2, broken("set_epoch_interval", "every_n_epochs not applied")
    compat.mark_saved(callback, 7)
    assert compat.last_saved_step(callback) == 7
    compat.set_time_last_checked(callback, 1.5)
    assert compat.time_last_checked(callback) == 1.5
    compat.defer_save_until_validation(callback)
    assert callback._defer_save_until_validation is True


def test_fit_checkpoint_path_resolves_as_lightning_does(tmp_path):
    (tmp_path / "c").mkdir()
    for name in ("last.ckpt", "last-v1.ckpt"):
        (tmp_path / "c" / name).write_bytes(b"")
    os.utime(tmp_path / "c" / "last.ckpt", (1, 1))
    (tmp_path / "hpc_ckpt_3.ckpt").write_bytes(b"")
    trainer = Trainer(
        default_root_dir=str(tmp_path), logger=False, callbacks=[RunCheckpoint(dirpath=str(tmp_path / "c"))]
    )
    try:
        last, hpc = compat.fit_checkpoint_path(trainer, "last"), compat.fit_checkpoint_path(trainer, "hpc")
    except AttributeError as error:
        pytest.fail(broken("fit_checkpoint_path", str(error)))
    assert last == str(tmp_path / "c" / "last-v1.ckpt"), broken("fit_checkpoint_path", f"last -> {last}")
    assert hpc == str(tmp_path / "hpc_ckpt_3.ckpt"), broken("fit_checkpoint_path", f"hpc -> {hpc}")
    assert compat.fit_checkpoint_path(trainer, None) is None
    empty = Trainer(default_root_dir=str(tmp_path / "x"), logger=False, callbacks=[RunCheckpoint(dirpath="y")])
    assert compat.fit_checkpoint_path(empty, "hpc") is None, "Lightning's error is left to fit"


def test_set_wandb_run_id_sets_the_id_wandb_init_gets(tmp_path):
    logger = WandbLogger(save_dir=str(tmp_path))
    for name in ("_wandb_init", "_id", "_experiment"):
        assert hasattr(logger, name), broken("set_wandb_run_id", f"WandbLogger.{name} is gone")
    compat.set_wandb_run_id(logger, "abc123")
    assert logger.version == "abc123" and logger._wandb_init["id"] == "abc123"
    assert logger._wandb_init["resume"] == "allow", broken("set_wandb_run_id", "WandbLogger no longer resumes")


def test_lpips_network_builds_without_a_download(monkeypatch):
    import torch.hub

    def no_download(*args, **kwargs):
        raise AssertionError("lpips_network tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    try:
        net = compat.lpips_network("alex")
    except AttributeError as error:
        pytest.fail(broken("lpips_network", str(error)))
    assert hasattr(net, "net") and hasattr(net, "lins"), broken("lpips_network", "unexpected module layout")
    image = torch.zeros(1, 3, 32, 32)
    assert net(image, image, normalize=False).shape[0] == 1


def test_strategy_shims_reach_lightnings_ddp_internals(tmp_path):
    from lightning.pytorch.strategies import DDPStrategy

    timeout = compat.default_process_group_timeout()
    assert isinstance(timeout, timedelta), broken("default_process_group_timeout", f"got {timeout!r}")
    assert inspect.signature(DDPStrategy).parameters["timeout"].default == timeout, broken(
        "default_process_group_timeout", "DDPStrategy's default timeout is another value"
    )
    for name in compat.DDP_WRAPPER_HOOKS:
        assert callable(getattr(DDPStrategy, name, None)), broken("without_ddp_wrapper", f"DDPStrategy.{name} is gone")
    patched = compat.without_ddp_wrapper(type("Patched", (DDPStrategy,), {}))
    assert patched._register_ddp_hooks(object.__new__(patched)) is None
    with pytest.raises(ValueError, match="model averaging"):
        patched._enable_model_averaging(object.__new__(patched))
    store = torch.distributed.FileStore(str(tmp_path / "store"), 1)
    torch.distributed.init_process_group("gloo", store=store, rank=0, world_size=1)  # one rank: a real call
    try:
        net = torch.nn.BatchNorm1d(2)
        compat.sync_module_states(net)
        assert torch.equal(net.running_var, torch.ones(2)), broken("sync_module_states", "buffers changed")
    except (ImportError, AttributeError) as error:
        pytest.fail(broken("sync_module_states", str(error)))
    finally:
        torch.distributed.destroy_process_group()


def test_merge_list_states_leaves_one_tensor_per_list_and_the_same_value():
    from torchmetrics.image import KernelInceptionDistance

    class Flat(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1).double()

    def kid(merge: bool) -> tuple[torch.Tensor, list]:
        metric = KernelInceptionDistance(feature=Flat(), subsets=3, subset_size=4)
        generator = torch.Generator().manual_seed(0)
        for n in (3, 0, 2):  # uneven updates, one empty (a batch without a real image of a domain)
            metric.update(torch.rand(n, 2, generator=generator), real=True)
            metric.update(torch.rand(2, 2, generator=generator), real=False)
        if merge:
            compat.merge_list_states(metric)
        shapes = [tuple(t.shape) for t in metric.real_features]
        torch.manual_seed(0)
        return metric.compute()[0], shapes

    try:
        merged, shapes = kid(merge=True)
    except AttributeError as error:
        pytest.fail(broken("merge_list_states", str(error)))
    plain, plain_shapes = kid(merge=False)
    assert shapes == [(5, 2)] and plain_shapes == [(3, 2), (0, 2), (2, 2)]
    assert torch.equal(merged, plain)


def test_ignore_in_ddp_keeps_the_named_buffers_out_of_ddp(tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    module = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    module.register_buffer("frozen", torch.ones(3), persistent=False)
    compat.ignore_in_ddp(module, ["frozen"])
    assert getattr(module, "_ddp_params_and_buffers_to_ignore", None) == ["frozen"], broken("ignore_in_ddp", "not set")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        ddp = DistributedDataParallel(module)
        assert "frozen" in ddp.parameters_to_ignore, broken("ignore_in_ddp", "DDP did not read the list")
        assert all(b is not module.frozen for b in ddp.modules_buffers), broken("ignore_in_ddp", "still broadcast")
        assert any(b is module[1].running_mean for b in ddp.modules_buffers), "other buffers are still broadcast"
    finally:
        dist.destroy_process_group()
