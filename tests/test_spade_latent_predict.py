"""SPADE's VAE through the latent-code contract (issue 22): predict N seeded samples per label map, style images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIGS, tiny_args, write_image
from PIL import Image

from lit_translate.cli import main
from lit_translate.methods import SPADE

DEMO = CONFIGS / "spade" / "demo.yaml"
CPU = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.logger", "false"]
VAE = [
    "--model.init_args.encoder", "lit_translate.nets.ConvEncoder", "--model.init_args.encoder.init_args.ngf", "8",
    "--model.init_args.encoder.init_args.input_size", "64", "--model.init_args.generator.init_args.use_vae", "true",
]  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("spade_vae") / "run"
    main(["fit", "-c", str(DEMO), *tiny_args(run, steps=1), *VAE])
    return run / "checkpoints" / "last.ckpt"


def label_maps(folder: Path, names: list[str]) -> Path:
    """Blocky 64x64 label maps with the demo's 5 classes."""
    rng = np.random.default_rng(0)
    for name in names:
        write_image(folder / name, np.kron(rng.integers(0, 5, (8, 8)), np.ones((8, 8))).astype(np.uint8))
    return folder


def predict(ckpt: Path, src: Path, out: Path, *extra: str) -> None:
    main(
        ["predict", "--ckpt_path", str(ckpt), "--data.init_args.predict_dir", str(src)]
        + ["--predict_writer.output_dir", str(out), *CPU, *extra]
    )


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_spade_vae_predict_writes_seeded_samples_and_the_same_seed_gives_the_same_files(checkpoint, tmp_path):
    src = label_maps(tmp_path / "in", ["a.png", "sub/b.png"])
    for out in ("o1", "o2"):
        predict(checkpoint, src, tmp_path / out, "--predict_writer.num_samples", "3", "--predict_writer.seed", "7")
    files = sorted(str(p.relative_to(tmp_path / "o1")) for p in (tmp_path / "o1").rglob("*.png"))
    assert files == ["a_s0.png", "a_s1.png", "a_s2.png", "sub/b_s0.png", "sub/b_s1.png", "sub/b_s2.png"]
    for name in files:
        assert (tmp_path / "o1" / name).read_bytes() == (tmp_path / "o2" / name).read_bytes()
    assert not np.array_equal(read(tmp_path / "o1" / "a_s0.png"), read(tmp_path / "o1" / "a_s1.png"))


def amplified(checkpoint: Path, out: Path) -> Path:
    """The checkpoint with G's first and last layers x 100: after one step the outputs are all ~0 (init gain 0.02)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    for key in ("generator.conv_img.weight", "generator.fc.weight"):  # the fc from z: the code's say
        state["state_dict"][key] *= 100
    torch.save(state, out)
    return out


def test_spade_vae_predict_with_a_style_image_uses_its_code(checkpoint, tmp_path):
    checkpoint = amplified(checkpoint, tmp_path / "amplified.ckpt")
    src = label_maps(tmp_path / "in", ["a.png"])
    rng = np.random.default_rng(1)
    styles = [write_image(tmp_path / f"style{i}.png", rng.integers(0, 256, (64, 64, 3), np.uint8)) for i in (0, 1)]
    for out, style in (("s0", styles[0]), ("again", styles[0]), ("s1", styles[1])):
        predict(checkpoint, src, tmp_path / out, "--predict_writer.style_image", str(style))
    predict(checkpoint, src, tmp_path / "default", "--predict_writer.num_samples", "1")  # the seed-0 code
    out = {name: (tmp_path / name / "a.png") for name in ("s0", "again", "s1")}
    out["default"] = tmp_path / "default" / "a_s0.png"
    assert out["s0"].read_bytes() == out["again"].read_bytes()
    for other in ("s1", "default"):
        assert np.abs(read(out["s0"]).astype(int) - read(out[other]).astype(int)).mean() > 4, other
    # the code of the style image is the encoder's mu: the same as passing that code
    model = SPADE.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    image = torch.from_numpy(read(styles[0]).copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    label = torch.from_numpy(read(src / "a.png").astype(np.int64))[None, None]
    with torch.no_grad():
        assert torch.equal(model.translate(label, z=image), model.translate(label, z=model.encode_latent(image)))
