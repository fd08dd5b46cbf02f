"""StyleTransfer (Johnson et al. 2016) and its content-image DataModule, beyond the shared method harness.

The harness (test_methods, test_resume, test_ddp) already trains configs/style_transfer/demo.yaml; here: the loss
against the reference computation on 0-255 pixels, the frozen loss network (no gradient, no optimizer slot, not in
checkpoints), bad input raised before the first step, predict at any size, the content folder listing and split,
and the two generalised house pieces (targetless metrics, single-image grid columns). Nothing touches the network:
VGG weights are the random stand-in, written to a file where a file is needed.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from conftest import CONFIGS, run_cli, tiny_args, write_image
from PIL import Image

from lit_translate.callbacks.images import to_grid
from lit_translate.cli import main
from lit_translate.data.images import ImageFolderDataModule, find_images_recursive, resize_center_crop
from lit_translate.evaluation import TranslationMetrics
from lit_translate.methods import StyleTransfer
from lit_translate.nets import TransformerNet
from lit_translate.standins import random_vgg_state
from lit_translate.weights import FETCH_COMMAND, WeightsUnavailableError

DEMO = CONFIGS / "style_transfer" / "demo.yaml"
pytestmark = [
    pytest.mark.filterwarnings("ignore:Using .* as custom vgg16 weights:UserWarning"),
    pytest.mark.filterwarnings("ignore:vgg_weights='random':UserWarning"),
]


def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in the test suite")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Every connection and download fails; the torch.hub cache is an empty folder."""
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "random_vgg16.pth"
    torch.save(random_vgg_state("vgg16"), path)
    return path


@pytest.fixture(scope="module")
def style_file(tmp_path_factory):
    rng = np.random.default_rng(1)
    return write_image(tmp_path_factory.mktemp("style") / "style.png", rng.integers(0, 255, (40, 48, 3), np.uint8))


def small_args(run, steps=2):
    return [*tiny_args(run, steps=steps), "--data.image_size", "32", "--model.init_args.style_size", "32"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The demo recipe at 32 px, 2 steps."""
    run = tmp_path_factory.mktemp("st") / "run"
    cli = run_cli(["-c", str(DEMO), *small_args(run)])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, run


# ------------------------------------------------------------------------------------------------- losses
def reference_terms(net, vgg_state, content, style, content_weight, style_weight):
    """pytorch/examples neural_style.train on 0-255 pixels: its VGG16 slices, normalize_batch, gram, mse."""
    vgg = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])  # vgg16().features
    vgg.load_state_dict({k.removeprefix("features."): v for k, v in vgg_state.items()})
    slices = [vgg[0:4], vgg[4:9], vgg[9:16], vgg[16:23]]  # relu1_2, relu2_2, relu3_3, relu4_3

    def features(batch):
        mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
        std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
        h, out = (batch / 255.0 - mean) / std, []
        for block in slices:
            h = block(h)
            out.append(h)
        return out

    def gram(y):
        b, ch, h, w = y.size()
        f = y.view(b, ch, w * h)
        return f.bmm(f.transpose(1, 2)) / (ch * h * w)

    x = (content + 1) * 127.5
    y = net.forward_pixels(x)
    features_y, features_x = features(y), features(x)
    gram_style = [gram(f) for f in features((style + 1) * 127.5)]
    content_loss = content_weight * F.mse_loss(features_y[1], features_x[1])
    style_loss = sum(F.mse_loss(gram(fy), gs.repeat(len(x), 1, 1)) for fy, gs in zip(features_y, gram_style))
    return content_loss, style_weight * style_loss


def test_losses_equal_the_reference_computation_on_pixels(vgg_file, style_file):
    torch.manual_seed(0)
    model = StyleTransfer(TransformerNet(), str(style_file), vgg_weights=str(vgg_file), tv_weight=3.0)
    model.setup("fit")
    content = torch.rand(2, 3, 32, 32) * 2 - 1
    stylised = model.generator(content)
    terms = model.perceptual_terms(content, stylised)
    assert list(terms) == ["content", "style", "tv"]
    style = model.style  # the style image as loaded: (1, 3, 40, 48) in [-1, 1]
    assert style.shape == (1, 3, 40, 48)
    content_ref, style_ref = reference_terms(model.generator, torch.load(vgg_file), content, style, 1e5, 1e10)
    torch.testing.assert_close(terms["content"], content_ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(terms["style"], style_ref, rtol=1e-5, atol=0)
    vertical = (stylised[:, :, 1:] - stylised[:, :, :-1]).pow(2).mean()
    horizontal = (stylised[..., 1:] - stylised[..., :-1]).pow(2).mean()
    torch.testing.assert_close(terms["tv"], 3.0 * (vertical + horizontal))
    assert content_ref > 0 and style_ref > 0  # nothing trivially zero


def test_zero_weights_leave_terms_out_and_layers_are_checked(vgg_file, style_file):
    model = StyleTransfer(TransformerNet(), str(style_file), vgg_weights=str(vgg_file), content_weight=0.0)
    model.setup("fit")
    x = torch.rand(1, 3, 16, 16) * 2 - 1
    assert list(model.perceptual_terms(x, x)) == ["style"]
    with pytest.raises(ValueError, match="content_layer"):
        StyleTransfer(TransformerNet(), "synthetic", content_layer="relu9_9")
    with pytest.raises(ValueError, match="style_weight must be >= 0"):
        StyleTransfer(TransformerNet(), "synthetic", style_weight=-1.0)


# ---------------------------------------------------------------------------------------- frozen loss network
def test_only_the_transform_network_trains_and_is_saved(trained):
    cli, run = trained
    model = cli.model
    assert sum(p.numel() for p in model.parameters()) == 1_679_235  # TransformerNet alone: VGG has no parameters
    assert not list(model.vgg.parameters()) and all(not b.requires_grad for b in model.vgg.buffers())
    (optimizer,) = [opt.optimizer for opt in [model.optimizers()]]
    slots = {id(p) for group in optimizer.param_groups for p in group["params"]}
    assert slots == {id(p) for p in model.generator.parameters()}
    assert all(p.grad is None or p.grad.abs().sum() > 0 for p in model.generator.parameters())
    assert all(b.grad is None for b in model.buffers())
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(key.startswith("generator.") for key in ckpt["state_dict"]), "only the transform network is saved"
    weight_bytes = sum(v.numel() * v.element_size() for v in ckpt["state_dict"].values())
    assert weight_bytes == 1_679_235 * 4
    # weights + Adam's two moments; VGG-16's features alone would add 58.9 MB
    assert (run / "checkpoints" / "last.ckpt").stat().st_size < 3 * weight_bytes + 1_000_000


def test_predict_stylises_any_size_without_the_loss_network(trained, tmp_path):
    _, run = trained
    inputs, out = tmp_path / "in", tmp_path / "out"
    rng = np.random.default_rng(0)
    sizes = {"odd.png": (37, 53), "small.jpg": (9, 13), "sub/nested.png": (8, 8)}
    for name, (h, w) in sizes.items():
        write_image(inputs / name, rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    ckpt = str(run / "checkpoints" / "last.ckpt")
    common = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.logger", "false"]
    main(
        ["predict", "--ckpt_path", ckpt, "--data.init_args.predict_dir", str(inputs)]
        + common
        + ["--predict_writer.output_dir", str(out), "--model.init_args.vgg_weights", "missing.pth"]
    )
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["odd.png", "small.png", "sub/nested.png"]  # sub-folders kept (the predict folder's rule)
    assert Image.open(out / "odd.png").size == (53, 37) and Image.open(out / "small.png").size == (13, 9)
    assert Image.open(out / "sub" / "nested.png").size == (8, 8)


# ------------------------------------------------------------------------------------------------ bad input
def fit_fails(args, error, match):
    cli = run_cli(args)
    with pytest.raises(error, match=match):
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 0


def test_missing_or_unreadable_style_image_fails_before_the_first_step(tmp_path):
    key = r"--model\.init_args\.style_image"
    base = ["-c", str(DEMO), *small_args(tmp_path / "run")]
    fit_fails(
        [*base, "--model.init_args.style_image", str(tmp_path / "nope.jpg")], FileNotFoundError, f"nope.jpg.*{key}"
    )
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    fit_fails([*base, "--model.init_args.style_image", str(broken)], ValueError, f"{key}.*broken.jpg")


def test_empty_content_folder_fails_naming_it(tmp_path):
    empty = tmp_path / "empty"
    (empty / "nested").mkdir(parents=True)
    (empty / "README.txt").write_text("no images here")
    fit_fails(
        ["-c", str(DEMO), *small_args(tmp_path / "run"), "--data.root", str(empty)], ValueError, "empty.*no images"
    )


def test_offline_vgg_error_names_the_file_and_the_fix_before_training(offline, tmp_path):
    base = ["-c", str(DEMO), *small_args(tmp_path / "run"), "--model.init_args.vgg_weights"]
    cli = run_cli([*base, "null"])
    with pytest.raises(WeightsUnavailableError) as info:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 0
    message = str(info.value)
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg16-397923af.pth") in message
    assert f"{FETCH_COMMAND} --only vgg16" in message and "--model.init_args.vgg_weights" in message
    fit_fails([*base, str(tmp_path / "absent.pth")], FileNotFoundError, r"--model.init_args.vgg_weights.*absent\.pth")


# --------------------------------------------------------------------------------------------------- data
def test_resize_center_crop_matches_torchvision():
    rng = np.random.default_rng(0)
    transform = torchvision.transforms.Compose(
        [torchvision.transforms.Resize(24), torchvision.transforms.CenterCrop(24)]
    )
    for h, w in [(40, 57), (57, 40), (10, 15), (24, 30), (24, 24)]:  # wider, taller, smaller than the crop, exact
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        expected = np.asarray(transform(Image.fromarray(image)))
        np.testing.assert_array_equal(resize_center_crop(image, 24), expected)


def content_folder(root, names):
    rng = np.random.default_rng(0)
    for i, name in enumerate(names):
        write_image(root / name, rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8))
    return root


def datamodule(root, **kwargs):
    dm = ImageFolderDataModule(root=str(root), image_size=16, num_workers=0, **kwargs)
    dm.setup("fit")
    return dm


def test_one_folder_is_split_by_a_seeded_fraction(tmp_path):
    names = [f"{d}/img{i}.{'JPG' if i % 2 else 'png'}" for d in ("a", "b/c") for i in range(5)] + ["test/x.png"]
    root = content_folder(tmp_path / "flat", names)
    assert len(find_images_recursive(root)) == 11
    dm = datamodule(root, val_fraction=0.3)
    train, val = dm.dataset("train").paths, dm.dataset("val").paths
    assert len(val) == 3 and len(train) == 7 and not set(train) & set(val)  # root/test never trains
    assert train == sorted(train) and val == sorted(val)
    assert datamodule(root, val_fraction=0.3).dataset("val").paths == val  # same seed, same split
    assert datamodule(root, val_fraction=0.3, split_seed=1).dataset("val").paths != val
    item = dm.dataset("train")[0]
    assert item["A"].shape == (3, 16, 16) and -1 <= item["A"].min() and item["A"].max() <= 1 and "B" not in item


def test_train_and_val_folders_are_used_when_both_exist(tmp_path):
    root = content_folder(tmp_path / "split", ["train/a.png", "train/deep/b.png", "val/c.png"])
    dm = datamodule(root)
    assert [p.name for p in dm.dataset("train").paths] == ["a.png", "b.png"]
    assert [p.name for p in dm.dataset("val").paths] == ["c.png"]
    only_val = content_folder(tmp_path / "only_val", ["a.png", "val/c.png"])
    with pytest.raises(FileNotFoundError, match="needs both train/ and val/"):
        datamodule(only_val)
    with pytest.raises(ValueError, match="leaves none for training"):
        datamodule(content_folder(tmp_path / "one", ["a.png"]))


def test_synthetic_content_batches_follow_the_batch_contract():
    dm = ImageFolderDataModule(root=None, image_size=32, synthetic_size=4, batch_size=2, num_workers=0)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"A", "A_path"} and batch["A"].shape == (2, 3, 32, 32)
    assert batch["A_path"][0].startswith("synthetic:train:")


# ------------------------------------------------------------------------------------- house generalisations
def test_metrics_count_targetless_directions_and_skip_every_metric():
    metrics = TranslationMetrics(fid=False, kid=False, lpips=False)
    fake = torch.rand(3, 3, 8, 8) * 2 - 1
    metrics.update({"": (fake, None)}, paired=True)
    metrics.update({"": (fake[:2], None)}, paired=True)
    assert metrics.compute() == {} and metrics.num_images == {"": 5}
    with pytest.raises(ValueError, match="only sometimes"):
        metrics.update({"": (fake, fake)}, paired=True)


def test_single_image_column_is_shown_once():
    columns = {
        "content": torch.zeros(3, 3, 4, 4),
        "stylised": torch.zeros(3, 3, 4, 4),
        "style": -torch.ones(1, 3, 4, 4),
    }
    grid = to_grid(columns, padding=0)
    assert grid.shape == (3, 12, 12)
    assert (grid[:, :4, 8:] == 0).all() and (grid[:, 4:, 8:] == 1).all()  # black style tile, then blank tiles
    with pytest.raises(ValueError, match="one image size"):
        to_grid({"a": torch.zeros(2, 3, 4, 4), "b": torch.zeros(2, 3, 8, 8)})
