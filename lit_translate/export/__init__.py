"""Export a trained generator: ONNX, TorchScript, torch.export (``lit-translate export``, docs: README "Export")."""
