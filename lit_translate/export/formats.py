"""Writing an :class:`~lit_translate.export.graph.ExportGraph` as ONNX, TorchScript or a torch.export program.

Every format has dynamic batch, height and width and carries the graph's metadata (a JSON string under the key
``lit_translate``): ONNX ``metadata_props``, TorchScript ``_extra_files`` (``lit_translate.json``), and for an
ExportedProgram (``.pt2``) the archive's ``extra_files`` plus a ``FILE.json`` next to it.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch

from lit_translate.errors import InputError
from lit_translate.export.graph import ExportGraph, GraphSpec

FORMATS: tuple[str, ...] = ("onnx", "torchscript", "exported_program")
METADATA_KEY = "lit_translate"
"""The metadata key of every format (a JSON object: method, target(s), inputs, range, divisor, scale, mode)."""
ONNX_OPSET = 17
EXTRA_HINT = "pip install 'lit-translate[export]' (or: pip install onnx onnxruntime)"


def require_onnx() -> Any:
    """Import ``onnx``, or raise the one-line InputError that names the pip install command."""
    try:
        import onnx
    except ImportError as err:
        raise InputError(f"ONNX export needs the [export] extra: {EXTRA_HINT}") from err
    return onnx


def require_onnxruntime() -> Any:
    """Import ``onnxruntime``, or raise the one-line InputError that names the pip install command."""
    try:
        import onnxruntime
    except ImportError as err:
        raise InputError(f"the onnx engine needs the [export] extra: {EXTRA_HINT}") from err
    return onnxruntime


def save(graph: ExportGraph, spec: GraphSpec, fmt: str, output: Path) -> Path:
    """Write ``graph`` in format ``fmt`` to ``output``; return the path written."""
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**spec.metadata, "input_names": spec.inputs, "format": fmt})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        {"onnx": _onnx, "torchscript": _torchscript, "exported_program": _exported_program}[fmt](
            graph, spec, output, text
        )
    return output


def _onnx(graph: ExportGraph, spec: GraphSpec, output: Path, text: str) -> None:
    onnx = require_onnx()
    axes = {name: {0: "batch", 2: "height", 3: "width"} for name in spec.inputs if name not in ("label", "z")}
    axes.update({name: {0: "batch"} for name in spec.inputs if name in ("label", "z")})
    axes["y"] = {0: "batch", 2: "out_height", 3: "out_width"}
    torch.onnx.export(
        graph,
        spec.example,
        str(output),
        input_names=spec.inputs,
        output_names=["y"],
        dynamic_axes=axes,
        opset_version=ONNX_OPSET,
        dynamo=False,
    )
    model = onnx.load(str(output))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text
    onnx.save(model, str(output))


def _torchscript(graph: ExportGraph, spec: GraphSpec, output: Path, text: str) -> None:
    traced = torch.jit.trace(graph, spec.example, check_trace=False)
    torch.jit.save(traced, str(output), _extra_files={f"{METADATA_KEY}.json": text})


def _exported_program(graph: ExportGraph, spec: GraphSpec, output: Path, text: str) -> None:
    dims: dict[str, Any] = {"batch": torch.export.Dim("batch", min=1, max=1024)}
    low = graph.divisor + 1  # a U-Net 1 pixel deep would be specialised (torch.export's 0/1 rule)
    height = torch.export.Dim("height", min=low, max=16384)
    width = torch.export.Dim("width", min=low, max=16384)
    shapes = []
    for name in spec.inputs:
        shapes.append({0: dims["batch"]} if name in ("label", "z") else {0: dims["batch"], 2: height, 3: width})
    graph.exact_pad = True
    try:
        program = torch.export.export(
            graph,
            spec.example,
            dynamic_shapes={"inputs": tuple(shapes)},
            strict=False,
            prefer_deferred_runtime_asserts_over_guards=True,  # size facts the solver cannot prove: checked at run
        )
    finally:
        graph.exact_pad = False
    torch.export.save(program, str(output), extra_files={f"{METADATA_KEY}.json": text})
    Path(f"{output}.json").write_text(text + "\n")


def read_metadata(path: Path) -> dict[str, Any]:
    """Return the metadata written into an exported file (any of the three formats, told by its content)."""
    if path.suffix == ".onnx":
        model = require_onnx().load(str(path), load_external_data=False)
        props = {p.key: p.value for p in model.metadata_props}
        return json.loads(props[METADATA_KEY])
    extra = {f"{METADATA_KEY}.json": ""}
    if path.suffix == ".pt2":
        torch.export.load(str(path), extra_files=extra)
    else:
        torch.jit.load(str(path), _extra_files=extra, map_location="cpu")
    return json.loads(extra[f"{METADATA_KEY}.json"])


__all__ = ["EXTRA_HINT", "FORMATS", "METADATA_KEY", "read_metadata", "require_onnx", "require_onnxruntime", "save"]
