"""BicycleGAN step-0 loss parity with the reference (junyanz/BicycleGAN), same weights, batch and RNG state.

The reference is not part of this repository: pass a checkout of it (``--reference DIR``, the folder holding
``models/``). Both models are built at a CPU-sized resolution (128 px: ``unet_128``, ``resnet_128``,
``basic_256_multi``, edges2shoes otherwise), the reference's weights are copied into ours (the key part
``submodule`` of the U-Net is ``inner`` here, the multi-D's ``model_<i>`` is ``discriminators.<i>.model``), then one
forward and the G/E losses of ``optimize_parameters`` are computed by both from the same global seed (dropout,
the reparameterisation eps and z_random are drawn in the same order) and printed side by side.

    python benchmarks/bicyclegan_parity.py --reference /tmp/BicycleGAN
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from types import SimpleNamespace

import torch

from lit_translate.methods import BicycleGAN
from lit_translate.nets import BicycleDiscriminator, BicycleEncoder, BicycleGenerator


def reference_model(size: int) -> object:
    """Build the reference BiCycleGANModel (CPU, training) with the edges2shoes options at ``size`` px."""
    from models.bicycle_gan_model import BiCycleGANModel

    opt = SimpleNamespace(
        isTrain=True, batch_size=2, gpu_ids=[], checkpoints_dir="/tmp/bicycle_ref_ckpt", name="parity",
        preprocess="resize_and_crop", input_nc=1, output_nc=3, nz=8, ngf=64, ndf=64, nef=64,
        netG=f"unet_{size}", netE=f"resnet_{size}", netD="basic_256_multi", netD2="basic_256_multi", num_Ds=2,
        norm="instance", nl="relu", use_dropout=True, init_type="xavier", init_gain=0.02, where_add="all",
        upsample="basic", conditional_D=False, gan_mode="lsgan", lr=2e-4, beta1=0.5, lambda_L1=10.0,
        lambda_GAN=1.0, lambda_GAN2=1.0, lambda_z=0.5, lambda_kl=0.01, use_same_D=False, no_encode=False,
        direction="AtoB", verbose=False,
    )  # fmt: skip
    return BiCycleGANModel(opt)


def our_model(ref: object, size: int) -> BicycleGAN:
    """Build our BicycleGAN with the reference's weights."""
    num_downs, n_blocks = (8, 5) if size == 256 else (7, 4)
    model = BicycleGAN(
        BicycleGenerator(1, 3, 8, num_downs=num_downs),
        BicycleEncoder(3, 8, n_blocks=n_blocks),
        BicycleDiscriminator(3),
        BicycleDiscriminator(3),
        lpips_diversity_pairs=0,
    )
    model.generator.load_state_dict({k.replace("submodule", "inner"): v for k, v in ref.netG.state_dict().items()})
    model.encoder.load_state_dict(ref.netE.state_dict())
    for ours, theirs in ((model.discriminator, ref.netD), (model.discriminator2, ref.netD2)):
        mapped = {f"discriminators.{k[6]}.model.{k[8:]}": v for k, v in theirs.state_dict().items()}
        ours.load_state_dict(mapped)
    return model


def our_losses(model: BicycleGAN, batch: dict[str, torch.Tensor]) -> dict[str, float]:
    """Run our training step with the optimizer calls replaced by capturing the G/E losses (step 0)."""
    captured: dict[str, float] = {}

    def optimize(opts, losses, prefix, extra_backward=None, term_prefixes=None):  # noqa: ANN001, ANN202
        if prefix == "g":
            total = sum(losses.values())
            total.backward(retain_graph=True)
            extra = extra_backward() if extra_backward else {}
            captured.update({k: float(v.detach()) for k, v in {**losses, **extra}.items()})

    model.optimizers = lambda: [None] * 4  # type: ignore[method-assign]
    model.optimize = optimize  # type: ignore[method-assign]
    model.manual_backward = lambda loss, **kw: loss.backward(**kw)  # type: ignore[method-assign]
    model.toggled_optimizer = lambda opt: contextlib.nullcontext()  # type: ignore[method-assign]
    model.training_step(batch, 0)
    return captured


def main() -> None:
    """Print the step-0 loss terms of both implementations."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="a junyanz/BicycleGAN checkout (outside this repo)")
    parser.add_argument("--size", type=int, default=128, choices=(128, 256))
    args = parser.parse_args()
    sys.path.insert(0, args.reference)
    torch.manual_seed(0)
    ref = reference_model(args.size)
    model = our_model(ref, args.size).train()
    batch = {"A": torch.rand(2, 1, args.size, args.size) * 2 - 1, "B": torch.rand(2, 3, args.size, args.size) * 2 - 1}
    torch.manual_seed(1)
    ours = our_losses(model, batch)
    torch.manual_seed(1)
    ref.set_input({"A": batch["A"], "B": batch["B"], "A_paths": [""], "B_paths": [""]})
    ref.forward()
    ref.set_requires_grad([ref.netD, ref.netD2], False)
    ref.backward_EG()  # update_G_and_E without its optimizer steps
    ref.set_requires_grad([ref.netE], False)
    ref.backward_G_alone()
    ref.set_requires_grad([ref.netE], True)
    theirs = {
        "gan": ref.loss_G_GAN, "gan2": ref.loss_G_GAN2, "l1": ref.loss_G_L1, "kl": ref.loss_kl, "z_l1": ref.loss_z_L1,
    }  # fmt: skip
    print(f"{'term':6} {'lit_translate':>16} {'reference':>16} {'abs diff':>10}")
    for name, value in theirs.items():
        print(f"{name:6} {ours[name]:16.8g} {float(value):16.8g} {abs(ours[name] - float(value)):10.2e}")
    for label, mine, reference in (("G", model.generator, ref.netG), ("E", model.encoder, ref.netE)):
        theirs_by_name = {k.replace("submodule", "inner"): p for k, p in reference.named_parameters()}
        diff = max((p.grad - theirs_by_name[k].grad).abs().max().item() for k, p in mine.named_parameters())
        scale = max(p.grad.abs().max().item() for p in mine.parameters())
        print(f"{label}: max |grad difference| after the G/E backward {diff:.2e} (max |grad| {scale:.3g})")


if __name__ == "__main__":
    main()
