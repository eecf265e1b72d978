"""The benchmark's models, in plain torch.nn, with random weights from a fixed seed.

- ResNet-50: torchvision's when it imports, else `ResNet50` below, the same architecture with the same parameter
  names and shapes (bench/test_models.py checks both), 8.2 GFLOP per 224x224 image.
- BERT-base encoder: `BertBase` below (12 layers, hidden 768, 12 heads, FFN 3072, GELU, post-norm), 22.4 GFLOP per
  sequence of 128 tokens. Attention is written out (MatMul -> Softmax -> MatMul) for the ONNX file, the graph a
  Kiln engine sees from most exporters; PyTorch's own runs use F.scaled_dot_product_attention (flash attention on
  a GPU) when the torch has it: each side runs its best path over the same weights.
- UNet: the seed's UNet (tests/models/torch_models.py) at width 64, 4 levels, 2 classes.

BatchNorm statistics are calibrated on random batches so that activations keep unit scale through the network (the
defaults, mean 0 and variance 1, let ResNet's residual sums grow layer after layer, towards FP16's range).
"""

import math
import os
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "models"))
from torch_models import UNet, calibrateBatchNorm  # noqa: E402  (the seed's UNet, shared with the model tests)
from workloads import ModelSpec  # noqa: E402


# ---------------------------------------------------------------------------------------------------------- ResNet-50
class Bottleneck(nn.Module):
    """torchvision's Bottleneck (ResNet v1.5: the stride on the 3x3 convolution)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    """torchvision.models.resnet50(weights=None), for machines without torchvision: same names, shapes and init."""

    def __init__(self, classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._layer(64, 3, 1)
        self.layer2 = self._layer(128, 4, 2)
        self.layer3 = self._layer(256, 6, 2)
        self.layer4 = self._layer(512, 3, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride,
                                                 bias=False), nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def makeResnet50():
    """torchvision's ResNet-50 when it imports, else ours; returns (model, which)."""
    try:
        import torchvision
        return torchvision.models.resnet50(weights=None), f"torchvision {torchvision.__version__}"
    except ImportError:
        return ResNet50(), "bench/models.py ResNet50 (torchvision absent)"


# ----------------------------------------------------------------------------------------------------------- BERT-base
class BertLayer(nn.Module):
    def __init__(self, hidden, heads, ffn):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.ffn1 = nn.Linear(hidden, ffn)
        self.ffn2 = nn.Linear(ffn, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)
        self.useSdpa = False

    def forward(self, x):
        b, s, h = x.shape
        dh = h // self.heads

        def split(t):  # [B, S, H] -> [B, heads, S, dh]
            return t.reshape(b, s, self.heads, dh).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        if self.useSdpa:
            ctx = F.scaled_dot_product_attention(q, k, v)
        else:
            scores = torch.matmul(q * (1.0 / math.sqrt(dh)), k.transpose(-1, -2))
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
        x = self.norm1(x + self.out(ctx.transpose(1, 2).reshape(b, s, h)))
        return self.norm2(x + self.ffn2(F.gelu(self.ffn1(x))))


class BertBase(nn.Module):
    """BERT's encoder (word + position + token-type embeddings, LayerNorm, post-norm layers); input_ids -> hidden."""

    def __init__(self, vocab=30522, maxLen=512, hidden=768, heads=12, layers=12, ffn=3072):
        super().__init__()
        self.vocab = vocab
        self.words = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(maxLen, hidden)
        self.tokenTypes = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList([BertLayer(hidden, heads, ffn) for _ in range(layers)])
        self.register_buffer("positionIds", torch.arange(maxLen).unsqueeze(0), persistent=False)
        for m in self.modules():  # BERT's initializer range
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def setSdpa(self, on: bool) -> None:
        for layer in self.layers:
            layer.useSdpa = on

    def forward(self, inputIds):
        s = inputIds.shape[1]
        h = self.words(inputIds) + self.positions(self.positionIds[:, :s]) + self.tokenTypes.weight[0]
        h = self.norm(h)
        for layer in self.layers:
            h = layer(h)
        return h

    def attentionFlops(self, batch: int, seq: int) -> int:
        """The two attention matmuls (Q.K^T and P.V), which no Linear hook sees."""
        hidden = self.words.embedding_dim
        return len(self.layers) * 2 * (2 * batch * seq * seq * hidden)


def build(spec: ModelSpec, seed: int, device: str, calibrate: bool = True):
    """The model with its random weights (BatchNorm calibrated on `device` unless `calibrate` is False: weights
    about to be loaded), in eval mode on the CPU, in FP32. Returns (model, description)."""
    torch.manual_seed(seed)
    if spec.name == "resnet50":
        model, which = makeResnet50()
    elif spec.name == "bert":
        model, which = BertBase(**spec.options), "bench/models.py BertBase"
    elif spec.name == "unet":
        model, which = UNet(inChannels=3, classes=2, levels=4, **spec.options), "tests/models/torch_models.py UNet"
    else:
        raise ValueError(f"unknown model '{spec.name}'")
    if spec.calibrateShape and calibrate:
        g = torch.Generator().manual_seed(seed + 1)
        batches = [torch.randn((4,) + spec.calibrateShape, generator=g).to(device) for _ in range(3)]
        model.to(device)
        calibrateBatchNorm(model, batches)
        model.cpu()
    return model.eval(), which


def makeInput(spec: ModelSpec, batch: int, seed: int) -> torch.Tensor:
    """A random input batch (CPU, FP32 or int64): normal images, or token ids over the whole vocabulary."""
    g = torch.Generator().manual_seed(seed)
    if spec.inputKind == "tokens":
        vocab = spec.options.get("vocab", 30522)
        return torch.randint(0, vocab, (batch,) + spec.itemShape, generator=g, dtype=torch.int64)
    return torch.randn((batch,) + spec.itemShape, generator=g)


def countFlops(model: nn.Module, x: torch.Tensor):
    """Runs the model once with hooks on Conv2d/ConvTranspose2d/Linear (2 FLOP per multiply-add) plus the attention
    matmuls; returns (outputs, FLOPs of the whole batch). Elementwise, normalization and pooling work is left out,
    as in the usual GFLOP figures (ResNet-50: 8.2 GFLOP per image)."""
    total = [0]

    def conv(m, inp, out):
        kh, kw = m.kernel_size
        total[0] += 2 * out.numel() * (m.in_channels // m.groups) * kh * kw

    def convT(m, inp, out):
        kh, kw = m.kernel_size
        total[0] += 2 * inp[0].numel() * (m.out_channels // m.groups) * kh * kw

    def linear(m, inp, out):
        total[0] += 2 * out.numel() * m.in_features

    handles = []
    for m in model.modules():
        hook = conv if isinstance(m, nn.Conv2d) else convT if isinstance(m, nn.ConvTranspose2d) else \
            linear if isinstance(m, nn.Linear) else None
        if hook:
            handles.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    if isinstance(model, BertBase):
        total[0] += model.attentionFlops(x.shape[0], x.shape[1])
    return out, total[0]
