"""BicycleGAN (issue 23): reference counts, latent codes, the iteration, predict samples and style images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIGS, PIX2PIX_DEMO, tiny_args, write_image

from lit_translate.cli import main
from lit_translate.data.synthetic import SHAPE_HUES, SyntheticColours
from lit_translate.errors import InputError
from lit_translate.methods import BicycleGAN, Pix2Pix
from lit_translate.methods.bicyclegan import frozen
from lit_translate.nets import BicycleDiscriminator, BicycleEncoder, BicycleGenerator, PatchDiscriminator
from lit_translate.nets.bicycle import tile_code

DEMO = CONFIGS / "bicyclegan" / "demo.yaml"
CPU = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.logger", "false"]


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_reference_parameter_counts_edges2shoes():
    # junyanz/BicycleGAN models/networks.py, edges2shoes (input_nc 1, nz 8, 64 filters, instance norm)
    assert count(BicycleGenerator(1, 3, 8, where_add="all")) == 54_792_579
    assert count(BicycleGenerator(1, 3, 8, where_add="input")) == 54_415_747
    assert count(BicycleEncoder(3, 8, nef=64, n_blocks=5)) == 2_590_032
    assert count(BicycleDiscriminator(3, 64, n_layers=3, num_D=2)) == 3_458_978
    # one scale is the pix2pix PatchGAN with the reference's biases: the existing net, its count unchanged
    assert count(PatchDiscriminator(6, 64, 3, "batch")) == 2_768_705


def small_nets(where_add: str = "all") -> dict:
    g = BicycleGenerator(3, 3, 8, num_downs=5, ngf=8, where_add=where_add)
    e = BicycleEncoder(3, 8, nef=8, n_blocks=3)
    return {"generator": g, "encoder": e, "discriminator": BicycleDiscriminator(3, 8, 2), "discriminator2": None}


def model(**kwargs) -> BicycleGAN:
    torch.manual_seed(0)
    nets = small_nets()
    nets["discriminator2"] = BicycleDiscriminator(3, 8, 2)
    return BicycleGAN(**nets, lpips_diversity_pairs=0, **kwargs)


def test_input_variant_adds_the_tiled_code_to_the_image_only():
    torch.manual_seed(0)
    g = BicycleGenerator(3, 3, 4, num_downs=5, ngf=8, where_add="input")
    first = g.model.model[0]
    assert first.in_channels == 3 + 4
    x, z = torch.randn(2, 3, 32, 32), torch.randn(2, 4)
    assert tile_code(x, z)[:, 3:, 5, 7].equal(z)
    assert g(x, z).shape == (2, 3, 32, 32)


def test_latent_codes_none_is_seed_zero_and_seeds_tensors_and_style_images_resolve():
    m = model().eval()
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    assert m.latent_dim == 8
    assert torch.equal(m.translate(x), m.translate(x, z=0))
    assert torch.equal(m.translate(x, z=5), m.translate(x, z=5))
    assert not torch.equal(m.translate(x, z=0), m.translate(x, z=1))
    codes = torch.Generator().manual_seed(7)
    expected = torch.randn(3, 8, generator=codes)
    assert torch.equal(m.resolve_latent(7, 3, torch.device("cpu"), torch.float32), expected)
    one = torch.randn(8)
    assert torch.equal(m.translate(x, z=one), m.translate(x, z=one.expand(3, 8)))
    style = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.equal(m.translate(x, z=style), m.translate(x, z=m.encode_latent(style)))
    with pytest.raises(InputError, match=r"\(3, 8\)"):
        m.translate(x, z=torch.randn(2, 8))
    with pytest.raises(InputError, match="int seed"):
        m.translate(x, z="red")  # type: ignore[arg-type]


def test_a_deterministic_method_refuses_a_latent_code():
    pix = Pix2Pix(torch.nn.Conv2d(3, 3, 1), torch.nn.Conv2d(6, 1, 1))
    assert pix.latent_dim is None
    with pytest.raises(InputError, match="Pix2Pix is deterministic"):
        pix.translate(torch.zeros(1, 3, 8, 8), z=0)
    with pytest.raises(InputError, match="Pix2Pix has no encoder"):
        pix.encode_latent(torch.zeros(1, 3, 8, 8))


def test_one_discriminator_or_use_same_d():
    with pytest.raises(InputError, match="discriminator2"):
        BicycleGAN(**small_nets())  # no D2 and use_same_D false
    BicycleGAN(**small_nets(), use_same_D=True)


def test_frozen_encoder_gets_no_gradient_from_a_graph_built_before():
    # the reference's set_requires_grad(E, False) before backward_G_alone: mu2 = E(G(A, z)) was computed earlier
    g, e = BicycleGenerator(3, 3, 8, num_downs=5, ngf=8), BicycleEncoder(3, 8, nef=8, n_blocks=3)
    z = torch.randn(1, 8)
    mu2, _ = e(g(torch.randn(1, 3, 32, 32), z))
    with frozen(e):
        (mu2 - z).abs().mean().backward()
    assert all(p.grad is None for p in e.parameters())
    assert all(p.requires_grad for p in e.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in g.parameters())


def test_synthetic_colours_same_layout_random_colour_deterministic():
    data = SyntheticColours(32, split="val")
    a, b = data[3]
    again = SyntheticColours(32, split="val")[3]
    assert np.array_equal(a, again[0]) and np.array_equal(b, again[1])
    colours = {data.colour_of(i) for i in range(32)}
    assert len(colours) >= 5  # the colour varies over items
    shapes = (a == 255).all(-1)  # outlines image: white outside the outlines
    fill = b[~shapes & ~(a == 30).all(-1)]
    assert (fill == SHAPE_HUES[data.colour_of(3)]).all()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("bicycle") / "run"
    main(["fit", "-c", str(DEMO), *tiny_args(run, steps=2)])
    return run / "checkpoints" / "last.ckpt"


def inputs(folder: Path, names: list[str]) -> Path:
    rng = np.random.default_rng(3)
    for name in names:
        write_image(folder / name, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return folder


def predict(ckpt: Path, src: Path, out: Path, *extra: str) -> None:
    main(
        ["predict", "--ckpt_path", str(ckpt), "--data.init_args.predict_dir", str(src)]
        + ["--predict_writer.output_dir", str(out), *CPU, *extra]
    )


def test_predict_writes_k_seeded_samples_and_the_same_seed_gives_the_same_files(checkpoint, tmp_path):
    src = inputs(tmp_path / "in", ["a.png", "sub/b.png"])
    predict(checkpoint, src, tmp_path / "o1", "--predict_writer.num_samples", "3")
    predict(checkpoint, src, tmp_path / "o2", "--predict_writer.num_samples", "3")
    predict(checkpoint, src, tmp_path / "o3", "--predict_writer.num_samples", "2", "--predict_writer.seed", "1")
    files = sorted(str(p.relative_to(tmp_path / "o1")) for p in (tmp_path / "o1").rglob("*.png"))
    assert files == ["a_s0.png", "a_s1.png", "a_s2.png", "sub/b_s0.png", "sub/b_s1.png", "sub/b_s2.png"]
    read = lambda p: np.asarray(__import__("PIL.Image").Image.open(p))  # noqa: E731
    for name in files:
        assert np.array_equal(read(tmp_path / "o1" / name), read(tmp_path / "o2" / name))
    assert np.array_equal(read(tmp_path / "o1" / "a_s1.png"), read(tmp_path / "o3" / "a_s0.png"))  # seed 0 + 1
    assert not np.array_equal(read(tmp_path / "o1" / "a_s0.png"), read(tmp_path / "o1" / "a_s1.png"))


def test_predict_style_image_file_and_folder(checkpoint, tmp_path):
    src = inputs(tmp_path / "in", ["a.png", "b.png"])
    styles = inputs(tmp_path / "styles", ["a.jpg", "b.png"])
    predict(checkpoint, src, tmp_path / "file", "--predict_writer.style_image", str(styles / "b.png"))
    predict(checkpoint, src, tmp_path / "folder", "--predict_writer.style_image", str(styles))
    assert sorted(p.name for p in (tmp_path / "folder").glob("*.png")) == ["a.png", "b.png"]
    read = lambda p: np.asarray(__import__("PIL.Image").Image.open(p))  # noqa: E731
    assert np.array_equal(read(tmp_path / "file" / "b.png"), read(tmp_path / "folder" / "b.png"))
    # the style image's code is used, not the default seed-0 draw
    m = BicycleGAN.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    style = torch.from_numpy(read(styles / "b.png").copy()).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert not torch.allclose(m.encode_latent(style), m.resolve_latent(0, 1, torch.device("cpu"), torch.float32))
    (tmp_path / "styles" / "b.png").unlink()
    with pytest.raises(SystemExit):  # one error line naming the input without a style image
        predict(checkpoint, src, tmp_path / "missing", "--predict_writer.style_image", str(styles))


def test_predict_samples_of_a_deterministic_method_are_one_error(tmp_path, capsys):
    run = tmp_path / "pix"
    main(["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=1)])
    with pytest.raises(SystemExit):
        predict(
            run / "checkpoints" / "last.ckpt",
            inputs(tmp_path / "in", ["a.png"]),
            tmp_path / "o",
            "--predict_writer.num_samples",
            "2",
        )
    assert "Pix2Pix is deterministic" in capsys.readouterr().err


@pytest.mark.parametrize("batch_size", ["1", "3"])
def test_odd_batch_sizes_are_one_error_before_step_zero(tmp_path, capsys, batch_size):
    with pytest.raises(SystemExit):
        main(["fit", "-c", str(DEMO), *tiny_args(tmp_path / "run"), "--data.batch_size", batch_size])
    err = capsys.readouterr().err
    assert "error:" in err and "--data.batch_size must be even" in err and "step 0" not in err


def test_lpips_diversity_is_zero_for_a_deterministic_translator_and_positive_across_codes():
    from lit_translate.evaluation.diversity import build_diversity_lpips, lpips_diversity

    with pytest.warns(UserWarning, match="stand-in"):
        lpips = build_diversity_lpips("alex", "random")
    m = model().eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        same = lpips_diversity(lambda seed: m.translate(x), lpips, 2)  # one output per input, as Pix2Pix in eval mode
        diverse = lpips_diversity(lambda seed: m.translate(x, z=seed), lpips, 2)
    assert float(same) == 0.0 and float(diverse) > 0.0
    with pytest.raises(InputError, match="alex only"):
        build_diversity_lpips("vgg", "random")


def test_tiled_inference_gives_every_tile_the_same_code():
    m = model().eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    whole = m.translate_any_size(x, z=3)
    tiled = m.translate_any_size(x, tile=32, overlap=0, z=3)
    assert whole.shape == tiled.shape == (1, 3, 64, 64)
    code = m.resolve_latent(3, 1, torch.device("cpu"), torch.float32)
    assert torch.equal(tiled[..., :32, :32], m.translate(x[..., :32, :32], z=code))
    assert torch.equal(tiled[..., 32:, 32:], m.translate(x[..., 32:, 32:], z=code))
