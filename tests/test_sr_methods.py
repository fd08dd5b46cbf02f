"""SRResNet and SRGAN: EMA in the contract, pre-training start, GAN terms, start-up checks, tiled predict."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import write_image
from lightning.pytorch import Callback, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image

from lit_translate.callbacks import TranslationWriter
from lit_translate.data import SRDataModule
from lit_translate.methods import SRGAN, Pix2Pix, SRResNetMethod
from lit_translate.methods.plumbing import TrainingPlumbing
from lit_translate.methods.pretrained import load_pretrained
from lit_translate.nets import MSRResNet, PatchDiscriminator, UnetGenerator, VGGStyleDiscriminator

warnings.filterwarnings("ignore", message=".*(random|custom vgg19 weights|eval mode|LeafSpec).*")


def tiny_g(scale: int = 4) -> MSRResNet:
    return MSRResNet(num_feat=8, num_block=1, scale=scale)


def tiny_srgan(**kwargs) -> SRGAN:
    options = dict(perceptual_layer="conv1_2", vgg_weights="random", ema_decay=0.9)
    options.update(kwargs)
    discriminator = options.pop("discriminator", PatchDiscriminator(3, ndf=4, n_layers=1))
    return SRGAN(tiny_g(), discriminator, **options)


def data(**kwargs) -> SRDataModule:
    options = dict(gt_size=16, batch_size=2, val_batch_size=2, num_workers=0, synthetic_size=8, synthetic_canvas=32)
    options.update(kwargs)
    return SRDataModule(**options)


def trainer(tmp_path, steps: int, callbacks=(), **kwargs) -> Trainer:
    options = dict(
        default_root_dir=tmp_path,
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        callbacks=list(callbacks),
    )
    options.update(kwargs)
    return Trainer(**options)


class RecordGenerator(Callback):
    """The live generator's parameters after every training batch."""

    def __init__(self):
        self.params = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.params.append([p.detach().clone() for p in pl_module.generator.parameters()])


# ------------------------------------------------------------------------------------------------------ EMA
def test_ema_follows_the_closed_form_is_in_no_optimizer_and_serves_inference(tmp_path):
    model, record = SRResNetMethod(tiny_g(), ema_decay=0.75), RecordGenerator()
    start = [p.detach().clone() for p in model.generator.parameters()]
    trainer(tmp_path, 3, [record], enable_checkpointing=False).fit(model, datamodule=data())
    optimizer = model.trainer.optimizers[0]
    in_optimizer = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert not in_optimizer & {id(p) for p in model.generator_ema.parameters()}
    assert model.averaged_parameter_names() == {f"generator_ema.{n}" for n, _ in model.generator_ema.named_parameters()}
    decay, k = 0.75, len(record.params)
    for i, ema in enumerate(model.generator_ema.averaged.parameters()):
        expected = decay**k * start[i] + sum((1 - decay) * decay ** (k - j - 1) * record.params[j][i] for j in range(k))
        torch.testing.assert_close(ema, expected, rtol=0, atol=1e-6)
    assert int(model.generator_ema.num_updates) == 3
    x = torch.rand(1, 3, 6, 6) * 2 - 1
    assert torch.equal(model.translate(x), model.generator_ema(x).clamp(-1, 1))
    assert model.inference_generator(None) is model.generator_ema.averaged


def test_ema_off_changes_nothing_and_existing_methods_average_nothing():
    model = SRResNetMethod(tiny_g(), ema_decay=None)
    assert not hasattr(model, "generator_ema") and model.averaged_parameter_names() == set()
    assert model.inference_generator(None) is model.generator
    pix2pix = Pix2Pix(UnetGenerator(3, 3, num_downs=5, ngf=4), PatchDiscriminator(6, ndf=4, n_layers=1))
    assert pix2pix.averaged_parameter_names() == set() and not any("ema" in k for k in pix2pix.state_dict())


def test_ema_and_per_iteration_schedules_resume_exactly(tmp_path):
    def fit(steps, ckpt_path=None, callbacks=()):
        torch.manual_seed(0)
        model = SRResNetMethod(
            tiny_g(),
            ema_decay=0.5,
            lr_scheduler=lambda opt: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 4], gamma=0.5),
        )
        run = trainer(tmp_path, steps, callbacks, enable_checkpointing=True, deterministic=True)
        run.fit(model, datamodule=data(), ckpt_path=ckpt_path)
        return model, run

    full, _ = fit(6)
    fit(3, callbacks=[ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=3, save_last=True)])
    path = tmp_path / "ckpt" / "last.ckpt"  # mid-epoch: 4 batches per epoch
    assert torch.load(path, weights_only=True)["state_dict"]["generator_ema.num_updates"] == 3
    resumed, run = fit(6, ckpt_path=str(path))
    scheduler = run.lr_scheduler_configs[0].scheduler
    # "step" schedulers are brought to the iteration before each batch: the last one (index 5) ran at 2e-4 / 4
    assert scheduler.last_epoch == 5 and run.optimizers[0].param_groups[0]["lr"] == pytest.approx(2e-4 * 0.25)
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key


# ------------------------------------------------------------------------------------------ pre-training start
def save_lightning(path, model):
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": {}}, path)
    return path


def test_srgan_starts_from_the_srresnet_live_weights_and_its_ema(tmp_path):
    source = SRResNetMethod(tiny_g(), ema_decay=0.9)
    with torch.no_grad():
        for p in source.generator_ema.parameters():
            p.add_(1.0)  # make the EMA distinguishable from the live weights
    path = save_lightning(tmp_path / "srresnet.ckpt", source)
    target = tiny_srgan()
    load_pretrained(target.generator, target.generator_ema, path, "generator")
    for mine, theirs in zip(target.generator.parameters(), source.generator.parameters()):
        assert torch.equal(mine, theirs)
    for mine, theirs in zip(target.generator_ema.parameters(), source.generator_ema.parameters()):
        assert torch.equal(mine, theirs)
    ema_start = tiny_srgan()
    load_pretrained(ema_start.generator, None, path, "generator", weights="ema")
    assert torch.equal(next(ema_start.generator.parameters()), next(source.generator_ema.averaged.parameters()))


def test_a_basicsr_file_loads_and_a_file_without_ema_seeds_the_ema_with_its_weights(tmp_path):
    source = tiny_g()
    torch.save({"params": source.state_dict()}, tmp_path / "net_g.pth")
    target = tiny_srgan()
    load_pretrained(target.generator, target.generator_ema, tmp_path / "net_g.pth", "generator")
    assert all(torch.equal(a, b) for a, b in zip(target.generator_ema.parameters(), source.parameters()))
    with pytest.raises(ValueError, match="holds no EMA weights"):
        load_pretrained(target.generator, None, tmp_path / "net_g.pth", "generator", weights="ema")


def test_pretrained_keys_are_strict_and_another_architecture_is_named(tmp_path):
    wider = SRResNetMethod(MSRResNet(num_feat=8, num_block=2, scale=4), ema_decay=None)
    path = save_lightning(tmp_path / "wider.ckpt", wider)
    target = tiny_srgan()
    with pytest.raises(ValueError, match=r"wider\.ckpt.*unexpected keys: body\.1\.conv1\.weight"):
        load_pretrained(target.generator, None, path, "generator")
    pix2pix = Pix2Pix(UnetGenerator(3, 3, num_downs=5, ngf=4), PatchDiscriminator(6, ndf=4, n_layers=1))
    torch.save(
        {"state_dict": pix2pix.state_dict(), "hyper_parameters": {"generator": {"class_path": "UnetGenerator"}}},
        tmp_path / "pix2pix.ckpt",
    )
    with pytest.raises(ValueError, match=r"pix2pix\.ckpt.*missing keys: conv_first.*holds UnetGenerator"):
        load_pretrained(target.generator, None, tmp_path / "pix2pix.ckpt", "generator")
    torch.save({"something": 1}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"other\.pth is neither a lit_translate checkpoint"):
        load_pretrained(target.generator, None, tmp_path / "other.pth", "generator")
    with pytest.raises(FileNotFoundError, match="--model.init_args.pretrained"):
        load_pretrained(target.generator, None, tmp_path / "missing.ckpt", "generator")


def test_a_fresh_fit_loads_the_pretraining_and_a_resumed_one_does_not_need_it(tmp_path):
    source = SRResNetMethod(tiny_g(), ema_decay=0.9)
    pre = save_lightning(tmp_path / "pre.ckpt", source)

    def same_as_source(model):
        pairs = zip([*model.generator.parameters(), *model.generator_ema.parameters()], source.parameters())
        return all(torch.equal(a, b) for a, b in pairs)

    model = tiny_srgan(pretrained=str(pre), d_warmup_iters=5)  # D-only warm-up: G keeps the loaded weights
    run = trainer(tmp_path / "a", 1)
    run.fit(model, datamodule=data())
    assert same_as_source(model)
    run.save_checkpoint(tmp_path / "one.ckpt")
    pre.unlink()  # a resumed fit restores its own weights and must not need the pre-training file
    resumed = tiny_srgan(pretrained=str(pre), d_warmup_iters=5)
    trainer(tmp_path / "b", 2).fit(resumed, datamodule=data(), ckpt_path=str(tmp_path / "one.ckpt"))
    assert resumed.trainer.global_step == 2 and same_as_source(resumed)


# --------------------------------------------------------------------------------------------- SRGAN terms
class ConstantD(torch.nn.Module):
    """A discriminator scoring real (bright) patches ``a`` and generated (dark) ones ``b``."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.a, self.b = a, b

    def forward(self, x):
        value = self.a if x.mean() > 0 else self.b
        return torch.full((x.shape[0], 1), value) + self.weight


def softplus(x: float) -> float:
    return float(np.log1p(np.exp(x)))


@pytest.mark.parametrize("relativistic", [False, True])
def test_gan_terms_against_hand_values(relativistic):
    a, b = 1.5, -0.5
    model = tiny_srgan(discriminator=ConstantD(a, b), relativistic=relativistic, lambda_gan=1.0)
    hr, sr = torch.full((2, 3, 16, 16), 0.5), torch.full((2, 3, 16, 16), -0.5)
    g = model.adversarial_g(sr, hr).item()
    d = model.discriminator_losses(sr, hr)
    if relativistic:  # ESRGAN: BCE(a - b, 0) and BCE(b - a, 1) for G; halved BCE(a - b, 1), BCE(b - a, 0) for D
        assert g == pytest.approx(0.5 * (softplus(a - b) + softplus(a - b)))
        assert d["real"].item() == pytest.approx(0.5 * softplus(-(a - b)))
        assert d["fake"].item() == pytest.approx(0.5 * softplus(b - a))
    else:  # -log sigmoid(D(G(x))); D: -log sigmoid(a) - log(1 - sigmoid(b))
        assert g == pytest.approx(softplus(-b))
        assert d["real"].item() == pytest.approx(softplus(-a)) and d["fake"].item() == pytest.approx(softplus(b))


def test_perceptual_term_scales_features_and_warmup_schedule_follows_basicsr():
    model = tiny_srgan(perceptual_criterion="mse", feature_scale=0.5, lambda_pixel=0.0, lambda_gan=0.0)
    sr, hr = torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 16, 16) * 2 - 1
    vgg = model.build_loss_network()
    unscaled = torch.nn.functional.mse_loss(vgg(sr)["conv1_2"], vgg(hr)["conv1_2"])
    assert model.generator_losses(sr, hr)["perceptual"].item() == pytest.approx(0.25 * unscaled.item(), rel=1e-5)
    staged = tiny_srgan(d_warmup_iters=2, d_steps_per_g=3)
    assert [t for t in range(10) if staged.updates_generator(t)] == [2, 5, 8] and staged.update_cycle == 5


def test_vgg_stays_out_of_state_dict_optimizers_and_ddp():
    model = tiny_srgan()
    assert model.vgg is None, "built when a fit starts: inference and checkpoint loading need no VGG file"
    assert model.build_loss_network() is model.vgg is model.build_loss_network()
    assert not any(k.startswith("vgg.") for k in model.state_dict())
    assert not any(n.startswith("vgg.") for n, _ in model.named_parameters())
    TrainingPlumbing.setup(model, "fit")  # what every method's setup does before Lightning wraps it in DDP
    ignored = model._ddp_params_and_buffers_to_ignore
    assert ignored and all(name.startswith("vgg.features.") or name in ("vgg.mean", "vgg.std") for name in ignored)
    assert not hasattr(SRResNetMethod(tiny_g()), "_ddp_params_and_buffers_to_ignore")


# ---------------------------------------------------------------------------------------- start-up checks
def test_scale_and_discriminator_size_mismatches_name_the_keys(tmp_path):
    with pytest.raises(ValueError, match=r"--data\.init_args\.scale is 2 .*generator\.init_args\.scale"):
        trainer(tmp_path, 1).fit(SRResNetMethod(tiny_g(4)), datamodule=data(scale=2, gt_size=16))
    model = tiny_srgan(discriminator=VGGStyleDiscriminator(num_feat=4, input_size=128))
    with pytest.raises(ValueError, match=r"gt_size is 16 .*discriminator\.init_args\.input_size"):
        trainer(tmp_path, 1).fit(model, datamodule=data())


# --------------------------------------------------------------------------------------------- tiled predict
def test_tiled_predict_equals_whole_images_and_keeps_names_and_scale(tmp_path):
    model = SRResNetMethod(MSRResNet(num_feat=8, num_block=2), ema_decay=None)  # receptive radius 6 LR px
    inputs = tmp_path / "in"
    rng = np.random.default_rng(0)
    for name, (h, w) in {"odd.png": (37, 53), "tiny.jpg": (9, 7)}.items():
        write_image(inputs / name, rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    outputs = {}
    for tile in (None, 16):
        out = tmp_path / f"out_{tile}"
        writer = TranslationWriter(output_dir=str(out), tile=tile, tile_overlap=12)
        run = trainer(tmp_path, 1, [writer])
        run.predict(model, datamodule=data(predict_dir=str(inputs)), return_predictions=False)
        outputs[tile] = {p.name: np.asarray(Image.open(p)) for p in sorted(out.iterdir())}
    assert sorted(outputs[None]) == ["odd.png", "tiny.png"]
    assert outputs[None]["odd.png"].shape == (148, 212, 3) and outputs[None]["tiny.png"].shape == (36, 28, 3)
    x = torch.rand(1, 3, 37, 53) * 2 - 1
    torch.testing.assert_close(model.translate_any_size(x, tile=16, overlap=12), model.translate_any_size(x))
    for name in outputs[None]:
        diff = np.abs(outputs[None][name].astype(int) - outputs[16][name].astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, name  # equal up to float rounding at .5 levels
    with pytest.raises(ValueError, match=r"--predict_writer\.tile \(16\) and --predict_writer\.tile_overlap \(16\)"):
        model.set_predict_tiling(16, 16)
