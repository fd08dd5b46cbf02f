"""SPADE step-0 loss parity and training speed against the reference (NVlabs/SPADE), same weights and batch.

The reference is not part of this repository: pass a checkout of it (``--reference DIR``, the folder holding
``models/`` and ``options/``). Both are built with the reference's default nets (``spade`` G with
``spectralspadesyncbatch3x3``, ngf 64, ``normal`` upsampling; 2-scale ``n_layer`` D, ``n_layers_D`` 4; with
``--vae`` the ``conv`` encoder) at a CPU-sized crop (``--size``, default 128) on ``--labels`` classes + instance
edges. Both VGG-19s get the same random stand-in weights (``random_vgg_state("vgg19")``: the reference's
``torchvision.models.vgg19(pretrained=True)`` is patched here to load them; ours uses ``vgg_weights: random``).
The reference's initial state dict is loaded into ours (spectral norm: ``weight_orig`` / ``weight_u`` /
``weight_v`` are ``parametrizations.weight.original`` / ``.0._u`` / ``.0._v``).

Parity: one G step and one D step of both from the same RNG state (the VAE's eps is drawn in the same order), no
optimizer step in between, every loss term printed side by side. Spectral norm's power iteration is switched off
in both for this check (the reference's hook runs it when the *conv* is in training mode, torch's parametrization
when the *parametrization* is): the reference's old hook updates ``v`` then ``u``, the parametrization ``u`` then
``v``, so in training mode the two normalise by slightly different sigmas at every forward. Without the iteration
both divide by ``u . W v`` of the same stored ``u``, ``v``; everything else (batch norm, instance norm) stays in
training mode. ``--power_iteration`` runs the check with it on, to show the size of that one difference.

Speed: ``--iters`` full training iterations (G step + D step with optimizer steps, the same batch) of both after
``--warmup``, the median time each: ours through a Lightning ``Trainer`` (what ``lit-translate fit`` runs), the
reference through its ``Pix2PixTrainer`` (``run_generator_one_step`` + ``run_discriminator_one_step``).

    python benchmarks/spade_parity.py --reference /tmp/SPADE [--vae] [--size 128] [--batch 2]
"""

from __future__ import annotations

import argparse
import contextlib
import pickle
import statistics
import sys
import time

import torch
from lightning.pytorch import Callback, Trainer

from lit_translate.methods import SPADE
from lit_translate.nets import ConvEncoder, MultiscaleDiscriminator, SPADEGenerator
from lit_translate.pretrained.standins import random_vgg_state


def patch_reference_environment() -> None:
    """Make the reference run on a CPU without downloads: random VGG-19 weights, no ``.cuda()``, no ``dill``."""
    import torchvision

    original = torchvision.models.vgg19

    def vgg19(pretrained: bool = False, **kwargs: object) -> torch.nn.Module:
        net = original(**kwargs)
        net.load_state_dict(random_vgg_state("vgg19"), strict=False)  # features.*; the classifier is unused
        return net

    torchvision.models.vgg19 = vgg19
    torch.nn.Module.cuda = lambda self, *a, **k: self  # VGGLoss calls .cuda() unconditionally
    sys.modules.setdefault("dill", pickle)


def reference_trainer(args: argparse.Namespace) -> object:
    """Build the reference's ``Pix2PixTrainer`` on CPU from its own option parser."""
    from options.train_options import TrainOptions
    from trainers.pix2pix_trainer import Pix2PixTrainer

    argv = ["train.py", "--gpu_ids", "-1", "--dataset_mode", "custom", "--label_dir", "/tmp", "--image_dir", "/tmp"]
    argv += ["--label_nc", str(args.labels), "--crop_size", str(args.size), "--load_size", str(args.size)]
    argv += ["--batchSize", str(args.batch), "--checkpoints_dir", "/tmp/spade_ref_ckpt", "--name", "parity"]
    argv += ["--use_vae"] if args.vae else []
    sys.argv = argv
    with contextlib.redirect_stdout(None):
        opt = TrainOptions().parse()
        return Pix2PixTrainer(opt)


def mapped_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the reference's spectral-norm hook entries to torch's parametrization names."""
    renames = {"weight_orig": "parametrizations.weight.original", "weight_u": "parametrizations.weight.0._u"}
    renames["weight_v"] = "parametrizations.weight.0._v"
    out = {}
    for key, value in state.items():
        head, _, last = key.rpartition(".")
        out[f"{head}.{renames[last]}" if last in renames else key] = value
    return out


def our_model(ref_model: object, args: argparse.Namespace) -> SPADE:
    """Build our SPADE with the reference's nets' settings and initial weights."""
    semantic_nc = args.labels + 1
    generator = SPADEGenerator(semantic_nc, 64, "normal", args.size, use_vae=args.vae)
    encoder = ConvEncoder(64, 256, 256) if args.vae else None
    discriminator = MultiscaleDiscriminator(semantic_nc + 3, 64, 3, 2, "spectralinstance")
    model = SPADE(generator, discriminator, encoder, labels=args.labels, dontcare=False, instance_edges=True)
    model.vgg_weights = "random"
    for mine, theirs in (("generator", "netG"), ("discriminator", "netD"), ("encoder", "netE")):
        if getattr(model, mine) is not None:
            load_in_order(getattr(model, mine), mapped_state(getattr(ref_model, theirs).state_dict()))
    return model


def load_in_order(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load ``state`` into ``net`` by name, else entry by entry in order, checking names' last parts and shapes.

    D: the reference's ``discriminator_<i>.model<j>.0.0`` is our flat ``discriminators.<i>.model.<k>``.
    """
    ours = net.state_dict()
    if set(ours) == set(state):  # G and E: the same names
        net.load_state_dict(state)
        return
    assert len(ours) == len(state), (len(ours), len(state))
    loaded = {}
    for (key, mine), (their_key, value) in zip(ours.items(), state.items(), strict=True):
        assert key.rpartition(".")[2] == their_key.rpartition(".")[2] and mine.shape == value.shape, (key, their_key)
        loaded[key] = value
    net.load_state_dict(loaded)


def power_iteration(ours: torch.nn.Module, theirs: torch.nn.Module, on: bool) -> None:
    """Switch spectral norm's training-time power iteration on or off in both (see the module docstring)."""
    for module in theirs.modules():
        if hasattr(module, "weight_orig"):
            module.training = on
    for module in ours.modules():
        if type(module).__name__ == "_SpectralNorm":
            module.training = on


def our_losses(model: SPADE, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """Run our training step with the optimizer calls replaced by capturing the loss terms (step 0)."""
    captured: dict[str, float] = {}

    def optimize(opt, losses, prefix, extra_backward=None, term_prefixes=None):  # noqa: ANN001, ANN202
        captured.update({f"{prefix}_{k}": float(v.detach()) for k, v in losses.items()})

    model.optimizers = lambda: [None, None]  # type: ignore[method-assign]
    model.optimize = optimize  # type: ignore[method-assign]
    model.toggled_optimizer = lambda opt: contextlib.nullcontext()  # type: ignore[method-assign]
    model.training_step(batch, 0)
    return captured


def make_batch(args: argparse.Namespace) -> dict[str, torch.Tensor]:
    """A blocky random label map (8x8 cells), an instance map splitting some classes, and a random photo."""
    g = torch.Generator().manual_seed(0)
    cells = torch.randint(0, args.labels, (args.batch, 1, 8, 8), generator=g)
    label = torch.nn.functional.interpolate(cells.float(), size=(args.size, args.size), mode="nearest").long()
    halves = (torch.arange(args.size) >= args.size // 2).view(1, 1, 1, -1)
    instance = label * 1000 + halves * (label % 2 == 0)
    image = torch.rand(args.batch, 3, args.size, args.size, generator=g) * 2 - 1
    return {"A": label, "A_instance": instance, "B": image}


def reference_data(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference's data dict (float maps, as its loader gives them); a fresh one per call (it is mutated)."""
    return {"label": batch["A"].float(), "instance": batch["A_instance"].float(), "image": batch["B"], "path": []}


def parity(ref: object, model: SPADE, batch: dict[str, torch.Tensor], args: argparse.Namespace) -> None:
    """Print every step-0 loss term of both."""
    ref_model = ref.pix2pix_model
    model.train(), ref_model.train()
    power_iteration(model, ref_model, args.power_iteration)
    torch.manual_seed(1)
    ours = our_losses(model, batch)
    torch.manual_seed(1)
    g_losses, _ = ref_model(reference_data(batch), mode="generator")
    d_losses = ref_model(reference_data(batch), mode="discriminator")
    names = {"g_gan": "GAN", "g_feat": "GAN_Feat", "g_vgg": "VGG", "g_kld": "KLD", "d_fake": "D_Fake"}
    names["d_real"] = "D_real"
    theirs = {**g_losses, **d_losses}
    print(f"{'term':8} {'lit_translate':>16} {'reference':>16} {'abs diff':>10}")
    for mine, their_name in names.items():
        if mine in ours:
            value = float(theirs[their_name])
            print(f"{mine:8} {ours[mine]:16.8g} {value:16.8g} {abs(ours[mine] - value):10.2e}")


class StepTimes(Callback):
    """Record the wall time of every training iteration."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.start = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):  # noqa: ANN001, ANN201, D102
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):  # noqa: ANN001, ANN201, D102
        self.times.append(time.perf_counter() - self.start)


def time_ours(model: SPADE, batch: dict[str, torch.Tensor], steps: int) -> list[float]:
    """Per-iteration seconds of ``steps`` training iterations through a Lightning Trainer."""
    timer = StepTimes()
    trainer = Trainer(
        accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[timer], num_sanity_val_steps=0,
    )  # fmt: skip
    trainer.fit(model, torch.utils.data.DataLoader([batch] * steps, batch_size=None))
    return timer.times


def time_reference(ref: object, batch: dict[str, torch.Tensor], steps: int) -> list[float]:
    """Per-iteration seconds of ``steps`` iterations of the reference's trainer."""
    times = []
    ref.pix2pix_model.train()
    for _ in range(steps):
        start = time.perf_counter()
        ref.run_generator_one_step(reference_data(batch))
        ref.run_discriminator_one_step(reference_data(batch))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    """Print the step-0 loss terms of both implementations, then their training speed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="an NVlabs/SPADE checkout (outside this repo)")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--labels", type=int, default=8)
    parser.add_argument("--vae", action="store_true", help="with the VAE encoder (adds the KLD term)")
    parser.add_argument("--power_iteration", action="store_true", help="keep spectral norm's power iteration on")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=5, help="timed iterations (0: parity only)")
    args = parser.parse_args()
    sys.path.insert(0, args.reference)
    patch_reference_environment()
    torch.manual_seed(0)
    ref = reference_trainer(args)
    model = our_model(ref.pix2pix_model, args)
    batch = make_batch(args)
    parity(ref, model, batch, args)
    if args.iters:
        steps = args.warmup + args.iters
        power_iteration(model, ref.pix2pix_model, True)  # training as usual for the timing
        for name, timing in (("lit_translate", time_ours), ("reference", time_reference)):
            times = timing(ref if name == "reference" else model, batch, steps)[args.warmup :]
            median, every = statistics.median(times), [round(t, 3) for t in times]
            print(f"{name:14} median {median:.3f} s/iter = {1 / median:.3f} it/s  (all: {every})", flush=True)


if __name__ == "__main__":
    main()
