"""Start a network from a pre-training run's weights (SRGAN from SRResNet), strictly, without its optimizer states.

Two file formats are read (with ``weights_only=True``):

- a lit_translate (Lightning) checkpoint: ``state_dict`` with ``<net>.*`` (the live weights) and, when that run
  averaged them, ``<net>_ema.averaged.*`` (its EMA); ``hyper_parameters`` name the architecture it was built with;
- a BasicSR network file: ``{"params": ..., "params_ema": ...}`` (the nets of ``lit_translate.nets.sr`` use
  BasicSR's layer names, so BasicSR's released MSRResNet weights load too).

Which weights go where follows BasicSR (``SRGANModel.init_training_settings``: ``net_g`` loads the file's ``params``,
``net_g_ema`` its ``params_ema``, falling back to ``params``): the trained network starts from the live weights
(``weights="ema"`` takes the EMA instead), its EMA copy from the file's EMA weights when present, else from the
same weights as the network. Optimizer, scheduler, step and random states are never taken: fine-tuning is a new
run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

PretrainedWeights = Literal["live", "ema"]
_SHOWN = 8


def read_weights(path: str | Path, net_name: str) -> tuple[dict[str, Tensor], dict[str, Tensor] | None, str]:
    """Return ``(live weights, EMA weights or None, what the file says about its architecture)`` of ``net_name``.

    Raises:
        FileNotFoundError: No such file.
        ValueError: The file is neither format (the message names it and what it holds).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--model.init_args.pretrained points to {path}, which does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise ValueError(f"pre-training checkpoint {path} cannot be read ({error})") from error
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        state = data["state_dict"]
        live = _strip(state, f"{net_name}.")
        ema = _strip(state, f"{net_name}_ema.averaged.")
        return live, ema or None, _architecture(data.get("hyper_parameters"), net_name)
    if isinstance(data, dict) and ("params" in data or "params_ema" in data):
        live = data.get("params", data.get("params_ema"))
        return dict(live), (dict(data["params_ema"]) if "params_ema" in data else None), "a BasicSR network file"
    keys = sorted(data)[:_SHOWN] if isinstance(data, dict) else type(data).__name__
    raise ValueError(
        f"pre-training checkpoint {path} is neither a lit_translate checkpoint (a state_dict with {net_name}.* keys) "
        f"nor a BasicSR network file (params / params_ema); it holds {keys}"
    )


def _strip(state: dict[str, Any], prefix: str) -> dict[str, Tensor]:
    return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}


def _architecture(hparams: Any, net_name: str) -> str:
    net = hparams.get(net_name) if isinstance(hparams, dict) else None
    if isinstance(net, dict) and "class_path" in net:
        return f"{net['class_path']} {net.get('init_args', {})}"
    return "an unrecorded architecture"


def load_strict(net: nn.Module, state: dict[str, Tensor], path: str | Path, what: str, architecture: str) -> None:
    """Load ``state`` into ``net`` with every key and shape matching, else raise listing the differences.

    Raises:
        ValueError: Missing, unexpected or differently shaped keys; names the file and the architecture it holds.
    """
    expected = net.state_dict()
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    shapes = [
        f"{key} {tuple(state[key].shape)} != {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    if missing or unexpected or shapes:
        problems = [
            f"{len(items)} {label}: {', '.join(items[:_SHOWN])}{' ...' if len(items) > _SHOWN else ''}"
            for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("shapes", shapes))
            if items
        ]
        raise ValueError(
            f"pre-training checkpoint {path}: its {what} do not fit --model.init_args.generator "
            f"({type(net).__name__}); {'; '.join(problems)}. The file holds {architecture}: is it a checkpoint "
            f"of another architecture? Configure the same generator as the pre-training run"
        )
    net.load_state_dict(state, strict=True)


@torch.no_grad()
def load_pretrained(
    net: nn.Module, ema: nn.Module | None, path: str | Path, net_name: str, weights: PretrainedWeights = "live"
) -> str:
    """Initialise ``net`` (and its EMA copy ``ema``, a ``ModelEMA``) from a pre-training file (module docstring).

    Args:
        net: The network to initialise (e.g. the SRGAN generator).
        ema: Its :class:`~lit_translate.methods.parts.ema.ModelEMA`, or None.
        path: The file.
        net_name: The network's attribute in the pre-training module (``"generator"``).
        weights: ``"live"`` (BasicSR) or ``"ema"``: which weights the trained network starts from. Default
            ``"live"``.

    Returns:
        A one-line description of what was loaded, for the log.
    """
    live, averaged, architecture = read_weights(path, net_name)
    if weights == "ema" and averaged is None:
        raise ValueError(
            f"--model.init_args.pretrained_weights ema, but {path} holds no EMA weights; use pretrained_weights live"
        )
    start = averaged if weights == "ema" else live
    load_strict(net, start, path, f"{weights} weights", architecture)  # type: ignore[arg-type]
    described = f"{net_name} from {path} ({weights} weights)"
    if ema is not None:
        load_strict(ema.averaged, averaged if averaged is not None else start, path, "EMA weights", architecture)  # type: ignore[arg-type]
        ema.num_updates.zero_()
        described += f", its EMA from the file's {'EMA' if averaged is not None else weights} weights"
    return described


__all__ = ["PretrainedWeights", "load_pretrained", "load_strict", "read_weights"]
