"""StarGAN the method, its label space and its DataModules (the shared harness covers the demo recipe too)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIGS, run_cli, tiny_args, write_image
from lightning.pytorch import Callback

from lit_translate.data import CelebADataModule, CelebARaFDDataModule, DomainFolderDataModule, SyntheticDomains
from lit_translate.data.celeba import CELEBA_DEFAULT_ATTRS
from lit_translate.labels import LabelSpace
from lit_translate.methods import StarGAN
from lit_translate.nets import StarGANDiscriminator, StarGANGenerator

DEMO = CONFIGS / "stargan" / "demo.yaml"
ATTR_NAMES = [f"Attr{i:02d}" for i in range(35)] + list(CELEBA_DEFAULT_ATTRS)  # 40 names, defaults last


def tiny_stargan(c_dim: int = 3, image_size: int = 16, **kwargs) -> StarGAN:
    generator = StarGANGenerator(c_dim=c_dim, conv_dim=4, repeat_num=1)
    discriminator = StarGANDiscriminator(
        image_size=image_size, c_dim=kwargs.pop("d_dim", c_dim), conv_dim=4, repeat_num=2
    )
    return StarGAN(generator, discriminator, **kwargs)


# ------------------------------------------------------------------------------------------------ label space
def test_label_space_attribute_targets_keep_the_other_attributes_and_hair_is_exclusive():
    space = LabelSpace(attributes=("Black_Hair", "Blond_Hair", "Male"))
    source = torch.tensor([[1.0, 0, 0], [0, 1, 1]])
    assert space.names == ("Black_Hair", "Blond_Hair", "Male") and space.label_dim == space.class_dim == 3
    assert space.target_label("Blond_Hair", source, 2, source).tolist() == [[0, 1, 0], [0, 1, 1]]
    assert space.target_label("Male", source, 2, source).tolist() == [[1, 0, 1], [0, 1, 1]]
    assert space.members(source, "Male").tolist() == [False, True]
    assert space.predicted(torch.tensor([[3.0, -1, 2], [-1, 2, -3]]), "Male").tolist() == [True, False]
    with pytest.raises(ValueError, match="needs the source images' attributes"):
        space.target_label("Male", None, 2, source)


def test_label_space_joint_layout_with_mask_and_losses_on_the_known_part():
    space = LabelSpace(attributes=("Male", "Young"), domains=("happy", "sad", "neutral"))
    assert space.joint and space.dims == (2, 3) and space.label_dim == 7 and space.class_dim == 5
    attrs = torch.tensor([[1.0, 0], [0, 0]])
    happy = space.target_label("happy", None, 2, attrs)
    assert happy.tolist() == [[0, 0, 1, 0, 0, 0, 1]] * 2
    young = space.target_label("Young", attrs, 2, attrs)
    assert young.tolist() == [[1, 1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 1, 0]]
    labels = torch.cat([young[:1], happy[:1]])  # one CelebA row, one RaFD row
    assert space.groups(labels).tolist() == [0, 1]
    assert space.members(labels, "happy").tolist() == [False, True]
    assert space.members(labels, "Male").tolist() == [True, False]
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -2.0]])
    expected_bce = torch.nn.functional.binary_cross_entropy_with_logits(logits[:, :2], young[:1, :2], reduction="sum")
    assert torch.allclose(space.classification_loss(logits, young[:1], 0), expected_bce)  # summed, / batch 1
    expected_ce = -torch.log_softmax(logits[:, 2:], 1)[0, 0]
    assert torch.allclose(space.classification_loss(logits, happy[:1], 1), expected_ce)
    with pytest.raises(ValueError, match="distinct"):
        LabelSpace(attributes=("a",), domains=("a",))


# ------------------------------------------------------------------------------------------------------- data
def test_synthetic_domains_keep_the_layout_and_change_the_colours():
    data = SyntheticDomains(6, canvas=32)
    images = [data.render(4, d) for d in range(3)]
    shapes = [np.any(image != image[0, 0], axis=-1) for image in images]  # non-background pixels
    assert all(np.array_equal(shapes[0], s) for s in shapes[1:]) and shapes[0].any()
    assert all(not np.array_equal(images[0], image) for image in images[1:])
    item = data[4]
    assert item["A_label"].tolist() == [0, 1, 0] and item["A"].shape == (3, 32, 32)
    assert np.array_equal(data.render(4, 1), SyntheticDomains(6, canvas=32).render(4, 1))


@pytest.fixture
def domain_root(tmp_path: Path) -> Path:
    """root/train/{cat (3), dog (2)} + a stray file; root/test/{cat, dog} (2 each); 24x20 images."""
    rng = np.random.default_rng(0)
    for split, counts in (("train", (3, 2)), ("test", (2, 2))):
        for domain, count in zip(("cat", "dog"), counts):
            for i in range(count):
                write_image(tmp_path / split / domain / f"{i}.png", rng.integers(0, 255, (20, 24, 3), dtype=np.uint8))
    (tmp_path / "train" / "PROVENANCE.md").write_text("not a domain")
    return tmp_path


def test_domain_folder_module_reads_domains_from_train_and_falls_back_to_test(domain_root: Path, caplog):
    data = DomainFolderDataModule(root=str(domain_root), image_size=16, batch_size=2, num_workers=0)
    assert data.domains == ("cat", "dog") and data.attributes == ()
    data.setup("fit")
    assert "validating on the 'test' split" in caplog.text
    batch = next(iter(data.train_dataloader()))
    assert batch["A"].shape == (2, 3, 16, 16) and batch["A_label"].shape == (2, 2)
    val = data.dataset("val")
    assert [label.argmax().item() for label in val.labels] == [0, 0, 1, 1]
    assert len(data.image_files("train")) == 5


def test_domain_folder_module_bad_input_is_named_before_training(domain_root: Path):
    (domain_root / "train" / "fox").mkdir()  # an empty domain folder
    with pytest.raises(ValueError, match="fox"):
        DomainFolderDataModule(root=str(domain_root), image_size=16, num_workers=0).setup("fit")
    with pytest.raises(ValueError, match="input_channels must be 3"):
        DomainFolderDataModule(root=str(domain_root), input_channels=1)


def write_attr_file(path: Path, names: list[str], values: np.ndarray) -> None:
    """A CelebA attribute file: count, 40 names, then rows with irregular spacing."""
    lines = [str(len(names)), " ".join(ATTR_NAMES) + " "]
    lines += [name + "".join(f"  {v}" if v == 1 else f" {v}" for v in row) for name, row in zip(names, values)]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    """CelebA layout: 2003 rows (1999 test, 4 train), every image a hard link to one 178x218 PNG."""
    root = tmp_path / "celeba"
    write_image(tmp_path / "face.png", np.random.default_rng(1).integers(0, 255, (218, 178, 3), dtype=np.uint8))
    (root / "images").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(2003)]
    for name in names:
        os.link(tmp_path / "face.png", root / "images" / name)
    write_attr_file(root / "list_attr_celeba.txt", names, np.random.default_rng(0).choice([-1, 1], (2003, 40)))
    return root


def test_celeba_module_errors_name_the_attribute_or_the_missing_images(celeba_root: Path):
    bad = CelebADataModule(root=str(celeba_root), selected_attrs=["Blond_Hair", "Bald"], num_workers=0)
    with pytest.raises(ValueError, match="Bald.*Attr00"):
        bad.setup("fit")
    os.remove(celeba_root / "images" / "000007.jpg")
    with pytest.raises(ValueError, match=r"missing from .*images: .*000007\.jpg"):
        CelebADataModule(root=str(celeba_root), num_workers=0).setup("test")
    with pytest.raises(ValueError, match="needs --data.root"):
        CelebADataModule(num_workers=0).setup("fit")


def test_celeba_rafd_batches_carry_the_mask_and_alternate(celeba_root: Path, domain_root: Path):
    data = CelebARaFDDataModule(root=str(celeba_root), rafd_root=str(domain_root), rafd_crop_size=16, image_size=16,
                                batch_size=2, num_workers=0, selected_attrs=["Male", "Young"])  # fmt: skip
    data.setup("fit")
    assert data.attributes == ("Male", "Young") and data.domains == ("cat", "dog")
    batches = list(data.train_dataloader())
    masks = [batch["A_mask"] for batch in batches]
    assert len(batches) == 6 and all(m.shape == (2, 2) and (m == m[0]).all() for m in masks)
    assert [int(m[0].argmax()) for m in masks] == [0, 1, 0, 1, 0, 1]
    for batch, mask in zip(batches, masks):
        label = batch["A_label"]
        assert label.shape == (2, 6) and torch.equal(label[:, 4:], mask)
        assert (
            (label[:, 2:4] == 0).all()
            if mask[0, 0]
            else (label[:, :2] == 0).all() and (label[:, 2:4].sum(1) == 1).all()
        )


# ----------------------------------------------------------------------------------------------------- method
class GeneratorSteps(Callback):
    """Record the iterations (0-based) at which G's optimizer stepped."""

    def __init__(self) -> None:
        self.iterations: list[int] = []
        self._count = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        state = trainer.optimizers[0].state  # G's Adam
        count = int(next(iter(state.values()))["step"]) if state else 0
        if count != self._count:
            self.iterations.append(trainer.global_step - 1)
            self._count = count


def test_generator_steps_every_n_critic_iterations_and_the_phase_survives_a_mid_epoch_resume(tmp_path):
    from faults import RaiseAtStep

    args = ["-c", str(DEMO), *tiny_args(tmp_path, steps=8, epochs=2), "--checkpoint.every_n_train_steps", "7"]
    args += ["--model.init_args.n_critic", "5"]  # the paper's (the demo steps G every 2)
    first, second = GeneratorSteps(), GeneratorSteps()
    cli = run_cli(args)
    cli.trainer.callbacks += [first, RaiseAtStep(7, rank=0)]  # dies mid-epoch 0 (8 batches per epoch)
    with pytest.raises(RuntimeError, match="injected failure"):
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert first.iterations == [4]
    cli = run_cli(args)
    cli.trainer.callbacks.append(second)
    second._count = 1  # G's Adam resumes with its 1 step
    cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path="last")
    assert cli.trainer.global_step == 16
    assert first.iterations + second.iterations == [4, 9, 14]  # (t + 1) % 5 == 0: 16 D steps, 3 G steps
    g_state, d_state = (next(iter(opt.state.values())) for opt in cli.trainer.optimizers)
    assert (int(g_state["step"]), int(d_state["step"])) == (3, 16)


def test_discriminator_gradient_penalty_is_the_autograd_one():
    model = tiny_stargan(lambda_gp=10.0)
    model.set_label_space(LabelSpace(domains=("a", "b", "c")))
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    c_org = torch.eye(3)
    c_trg = c_org[[1, 2, 0]]
    torch.manual_seed(5)
    losses = model.discriminator_losses(x, c_org, c_trg, 0)
    torch.manual_seed(5)
    alpha = torch.rand(3, 1, 1, 1)
    with torch.no_grad():
        fake = model.generator(x, c_trg)
    x_hat = (alpha * x + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(model.discriminator(x_hat)[0].sum(), x_hat, create_graph=True)
    expected = 10.0 * ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
    torch.testing.assert_close(losses["gp"], expected)
    assert set(losses) == {"real", "fake", "cls", "gp"}
    # create_graph: the penalty trains D's weights; G is not touched by the D step.
    model.zero_grad()
    losses["gp"].backward()
    assert model.discriminator.main[0].weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.generator.parameters())


def test_config_errors_name_the_key_and_the_fix_before_the_first_step(tmp_path):
    with pytest.raises(ValueError, match=r"generator.init_args.c_dim is 4 .*set c_dim: 3"):
        StarGAN(StarGANGenerator(4, 4, 1), StarGANDiscriminator(16, 3, 4, 2), domains=["a", "b", "c"])
    args = ["-c", str(DEMO), *tiny_args(tmp_path, steps=1)]
    cli = run_cli([*args, "--data.image_size", "96"])
    with pytest.raises(ValueError, match=r"image_size is 96 .*image_size=32 \(repeat_num=4: a multiple of 16\)"):
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 0
    model = tiny_stargan(domains=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"unknown target domain 'd': .*translates into a, b, c"):
        model.translate(torch.zeros(1, 3, 16, 16), "d")
    assert model.default_predict_targets == ("a", "b", "c")


def test_joint_training_steps_g_per_reference_iteration_and_classifies_the_known_part():
    model = tiny_stargan(c_dim=6, d_dim=4, n_critic=2)
    model.set_label_space(LabelSpace(attributes=("Male", "Young"), domains=("happy", "sad")))
    assert model.update_cycle == 4 and [model.generator_steps_at(t) for t in range(6)] == [0, 0, 1, 1, 0, 0]
    logits = torch.zeros(2, 4, requires_grad=True)
    labels = torch.tensor([[1.0, 0, 0, 0, 1, 0], [0, 1, 0, 0, 1, 0]])
    model.space.classification_loss(logits, labels, 0).backward()
    assert logits.grad[:, 2:].abs().sum() == 0 and logits.grad[:, :2].abs().sum() > 0
    with pytest.raises(ValueError, match="mixes"):
        model.batch_group(torch.tensor([[1.0, 0, 0, 0, 1, 0], [0, 0, 1, 0, 0, 1]]))


def test_target_sampling_other_never_keeps_the_source_domain():
    model = tiny_stargan(target_sampling="other", domains=["a", "b", "c"])
    labels = torch.eye(3)[torch.randint(0, 3, (64,))]
    targets = model.sample_targets(labels, 0)
    assert (targets.argmax(1) != labels.argmax(1)).all() and (targets.sum(1) == 1).all()
    with pytest.raises(ValueError, match="target_sampling 'other'"):
        tiny_stargan(c_dim=2, target_sampling="other", attributes=["Male", "Young"])


def test_attribute_targets_without_labels_use_the_classifier_estimate():
    model = tiny_stargan(c_dim=2, attributes=["Male", "Young"])
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    estimate = (model.classify(x) > 0).float()
    label = model.target_labels(x, "Young")
    assert torch.equal(label[:, 0], estimate[:, 0]) and (label[:, 1] == 1).all()
    big = torch.nn.functional.interpolate(x, size=(32, 32))  # any size: resized to D's 16 for the estimate
    assert model.translate_any_size(big, "Male").shape == (4, 3, 32, 32)


def test_predict_writes_every_domain_by_default_or_the_requested_ones_at_the_training_size(tmp_path):
    run = tmp_path / "run"
    cli = run_cli(["-c", str(DEMO), *tiny_args(run, steps=1)])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    inputs = tmp_path / "inputs"
    write_image(inputs / "a.png", np.zeros((80, 100, 3), np.uint8))
    from PIL import Image

    for out, targets in ((tmp_path / "all", []), (tmp_path / "some", ["--predict_writer.targets", "[blue,green]"])):
        predict = ["--data.predict_dir", str(inputs), "--predict_writer.output_dir", str(out), *targets]
        cli = run_cli(["-c", str(DEMO), *tiny_args(run, steps=1), *predict])
        cli.trainer.predict(cli.model, datamodule=cli.datamodule, ckpt_path=str(run / "checkpoints" / "last.ckpt"))
        assert cli.model.targets == ("red", "green", "blue")
        written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
        domains = ["red", "green", "blue"] if not targets else ["blue", "green"]
        assert written == sorted(f"{d}/a.png" for d in domains)  # out/<domain>/<name>.png
        assert Image.open(out / domains[0] / "a.png").size == (32, 32)  # resized as in evaluation (predict_resize)
