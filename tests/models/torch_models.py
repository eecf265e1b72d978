"""Models exported with torch.onnx for the end-to-end tests: torchvision ResNet-50, a small UNet, a BERT-like encoder.

Weights are random (fixed seed): no pretrained weights can be downloaded here. BatchNorm statistics are calibrated
on the test images plus jittered copies, so activations have realistic ranges instead of growing through the
network, which keeps the reference data useful for checking fp16 paths with sensible tolerances.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

OPSET = 13


class UNet(nn.Module):
    """Classic 4-level UNet: two 3x3 conv+BN+ReLU per level, max-pool down, transposed-conv up, skip concat."""

    def __init__(self, inChannels=3, classes=2, width=16, levels=4):
        super().__init__()
        chans = [width * 2**i for i in range(levels)]  # 16, 32, 64, 128
        self.down = nn.ModuleList()
        prev = inChannels
        for c in chans:
            self.down.append(self._block(prev, c))
            prev = c
        self.bottleneck = self._block(chans[-1], chans[-1] * 2)
        prev = chans[-1] * 2
        self.up = nn.ModuleList()
        self.upBlocks = nn.ModuleList()
        for c in reversed(chans):
            self.up.append(nn.ConvTranspose2d(prev, c, kernel_size=2, stride=2))
            self.upBlocks.append(self._block(2 * c, c))
            prev = c
        self.head = nn.Conv2d(prev, classes, kernel_size=1)

    @staticmethod
    def _block(cin, cout):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for up, block, skip in zip(self.up, self.upBlocks, reversed(skips)):
            x = block(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class BertLike(nn.Module):
    """Token + learned position embeddings, post-norm nn.TransformerEncoder (GELU), final LayerNorm, BERT pooler."""

    def __init__(self, vocab=1000, maxLen=64, dModel=128, heads=4, layers=2, ffn=512):
        super().__init__()
        self.tokens = nn.Embedding(vocab, dModel)
        self.positions = nn.Embedding(maxLen, dModel)
        self.embedNorm = nn.LayerNorm(dModel)
        layer = nn.TransformerEncoderLayer(dModel, heads, ffn, dropout=0.1, activation="gelu", batch_first=True)
        # The nested-tensor fast path has no ONNX export; it is also skipped while gradients are enabled.
        self.encoder = nn.TransformerEncoder(layer, layers, norm=nn.LayerNorm(dModel), enable_nested_tensor=False)
        self.pooler = nn.Linear(dModel, dModel)

    def forward(self, inputIds):
        pos = torch.arange(inputIds.shape[1], device=inputIds.device).unsqueeze(0)
        h = self.embedNorm(self.tokens(inputIds) + self.positions(pos))
        h = self.encoder(h)
        return h, torch.tanh(self.pooler(h[:, 0]))


def calibrateBatchNorm(model: nn.Module, batches) -> None:
    """Set BatchNorm running statistics to the cumulative mean/var over the given input batches."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for b in batches:
            model(b)
    model.eval()


def jitter(x: torch.Tensor, copies: int, seed: int) -> list:
    """The batch itself plus flipped, noisy copies: enough variety for BatchNorm statistics."""
    g = torch.Generator().manual_seed(seed)
    out = [x]
    for i in range(copies):
        y = torch.flip(x, dims=[3]) if i % 2 == 0 else x
        out.append(y + 0.1 * torch.randn(x.shape, generator=g))
    return out


def export(model: nn.Module, args: tuple, path, inputNames, outputNames, dynamicAxes) -> None:
    """torch.onnx.export with the settings every exported test model shares.

    Not under torch.no_grad(): torch 1.13 exports nn.TransformerEncoder correctly only with gradients enabled.
    """
    model.eval()
    torch.onnx.export(model, args, str(path), opset_version=OPSET, input_names=inputNames,
                      output_names=outputNames, dynamic_axes=dynamicAxes, do_constant_folding=True)


def buildResnet50(path, images: torch.Tensor, seed: int = 0) -> None:
    import torchvision
    torch.manual_seed(seed)
    model = torchvision.models.resnet50(weights=None)
    calibrateBatchNorm(model, jitter(images, 3, seed))
    export(model, (images,), path, ["input"], ["logits"], {"input": {0: "batch"}, "logits": {0: "batch"}})


def buildUnet(path, images: torch.Tensor, seed: int = 0) -> None:
    torch.manual_seed(seed)
    model = UNet()
    calibrateBatchNorm(model, jitter(images, 3, seed))
    export(model, (images,), path, ["image"], ["logits"], {"image": {0: "batch"}, "logits": {0: "batch"}})


def buildBert(path, inputIds: torch.Tensor, seed: int = 0) -> None:
    torch.manual_seed(seed)
    model = BertLike()
    export(model, (inputIds,), path, ["input_ids"], ["last_hidden_state", "pooler_output"],
           {"input_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"},
            "pooler_output": {0: "batch"}})
