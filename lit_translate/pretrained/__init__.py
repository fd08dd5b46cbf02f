"""Pretrained files: the registry (FID Inception, LPIPS and loss backbones), their check before step 0, stand-ins."""
