"""Every pretrained file a run needs is checked before step 0, and all missing ones are named in one error.

Offline as in the other weight tests: sockets and torch.hub downloads fail and ``TORCH_HOME`` is an empty folder
in ``tmp_path``. The CLI check runs ``python -m lit_translate fit`` as a user types it, with ``TORCH_HOME`` empty
and every download sent to a closed local proxy port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli, tiny_args

from lit_translate.errors import InputError
from lit_translate.pretrained.check import MissingPretrainedFilesError, Need, check_needs
from lit_translate.pretrained.weights import FETCH_COMMAND, WEIGHTS, WeightsUnavailableError, loss_network_state

ROOT = Path(__file__).resolve().parents[1]
SRGAN_DEMO = ROOT / "configs" / "srgan" / "demo.yaml"
FILES = {
    "vgg19": ("vgg19-dcbb9e9d.pth", "--model.init_args.vgg_weights"),
    "alexnet": ("alexnet-owt-7be5be79.pth", "--metrics.lpips_backbone_weights"),
    "inception": ("weights-inception-2015-12-05-6726825d.pth", "--metrics.inception_weights"),
}


def _no_network(*args, **kwargs):
    raise OSError("network disabled in tests")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def assert_names_every_file(message: str, tmp_path: Path) -> None:
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints") in message  # where to put them
    for filename, key in FILES.values():
        assert filename in message and key in message, (filename, key)
    assert f"{FETCH_COMMAND} --only vgg19,inception,alexnet" in message


def test_a_fit_names_every_missing_file_of_the_method_and_the_metrics_in_one_error(offline, tmp_path):
    args = ["-c", str(SRGAN_DEMO), *tiny_args(tmp_path / "run"), "--model.init_args.vgg_weights", "null"]
    cli = run_cli([*args, "--metrics.lpips", "true", "--metrics.fid", "true", "--data.num_workers", "0"])
    with pytest.raises(MissingPretrainedFilesError) as info:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 0 and cli.model.vgg is None  # checked before anything was built
    assert isinstance(info.value, InputError) and isinstance(info.value, WeightsUnavailableError)
    assert_names_every_file(str(info.value), tmp_path)


def test_one_missing_file_keeps_its_own_error_and_a_missing_given_file_is_listed(offline, tmp_path):
    with pytest.raises(WeightsUnavailableError, match="alexnet-owt-7be5be79.pth") as info:
        check_needs([Need("alexnet", None, "--metrics.lpips_backbone_weights")] * 2)  # the same file once
    assert not isinstance(info.value, MissingPretrainedFilesError)
    given = tmp_path / "nope" / "vgg19.pth"
    needs = [Need("vgg19", str(given), "--model.init_args.vgg_weights"), Need("alexnet", None, "--metrics.x")]
    with pytest.raises(MissingPretrainedFilesError) as info:
        check_needs(needs)
    lines = str(info.value).splitlines()
    assert lines[0].startswith("2 pretrained files") and len(lines) == 5
    assert str(given) in lines[1] and "does not exist" in lines[1] and "alexnet-owt" in lines[2]
    assert "--model.init_args.vgg_weights random" in lines[-1]  # the CPU-demo way out, since a VGG is missing
    check_needs([])  # nothing needed, nothing raised


def test_random_vgg_weights_need_no_file_and_warn_once(offline):
    with pytest.warns(UserWarning, match="RANDOM weights") as caught:
        state, path = loss_network_state("vgg19", "random")
    assert path is None and len(caught) == 1 and state["features.34.weight"].shape == (512, 512, 3, 3)
    assert WEIGHTS["vgg19"].filename not in str([str(w.message) for w in caught if "custom" in str(w.message)])


def test_the_srgan_demo_offline_names_all_missing_files_in_one_error(tmp_path):
    """The command as typed (without ``vgg_weights: random``), with an empty TORCH_HOME and no network."""
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch_home"), "PYTHONPATH": str(ROOT)}
    env.update({"HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": ""})
    command = [sys.executable, "-m", "lit_translate", "fit", "-c", str(SRGAN_DEMO), *tiny_args(tmp_path / "run")]
    overrides = ["--model.init_args.vgg_weights", "null", "--metrics.lpips", "true", "--metrics.fid", "true"]
    out = subprocess.run([*command, *overrides], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode != 0
    assert "pretrained files this run needs are not available" in out.stderr
    assert_names_every_file(out.stderr, tmp_path)
    assert not list((tmp_path / "run").rglob("*.ckpt"))
