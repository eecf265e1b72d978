"""The workloads of issue 7 (models, input shapes, precisions, batches), without importing torch: suite.py plans
with these while the PyTorch side runs in bench/worker.py."""

from dataclasses import dataclass, field


@dataclass
class ModelSpec:
    """One workload's model: how to make it, its input, its outputs and the measured configurations."""

    name: str
    title: str
    inputName: str
    outputNames: list
    itemShape: tuple  # one item of the input, without the batch dim
    inputKind: str  # "image" (float, channels_last on the GPU) or "tokens" (int64 ids)
    precisions: list
    batches: list
    options: dict = field(default_factory=dict)  # constructor arguments (the dry run's small sizes)
    calibrateShape: tuple = ()  # per-item shape of the BatchNorm calibration batches; () = no BatchNorm


def specs(scale: str) -> dict:
    """The workloads. `scale` "full" is the issue's sizes; "dry" keeps every architecture but shrinks the inputs
    (and BERT's and the UNet's widths) so the whole suite runs on a laptop CPU in a minute."""
    if scale == "full":
        return {
            "resnet50": ModelSpec("resnet50", "ResNet-50 224x224", "input", ["logits"], (3, 224, 224), "image",
                                  ["fp32", "tf32", "fp16"], [1, 8, 32, 128, 256], calibrateShape=(3, 224, 224)),
            "bert": ModelSpec("bert", "BERT-base seq 128", "input_ids", ["last_hidden_state"], (128,), "tokens",
                              ["fp16"], [1, 32, 128]),
            "unet": ModelSpec("unet", "UNet 512x512 (4 levels, width 64)", "image", ["logits"], (3, 512, 512),
                              "image", ["fp16"], [1, 16], options={"width": 64}, calibrateShape=(3, 128, 128)),
        }
    return {
        "resnet50": ModelSpec("resnet50", "ResNet-50 64x64 (dry run)", "input", ["logits"], (3, 64, 64), "image",
                              ["fp32", "tf32", "fp16"], [1, 2], calibrateShape=(3, 64, 64)),
        "bert": ModelSpec("bert", "BERT 2 layers d64 seq 16 (dry run)", "input_ids", ["last_hidden_state"], (16,),
                          "tokens", ["fp16"], [1, 2],
                          options={"vocab": 1000, "maxLen": 64, "hidden": 64, "heads": 4, "layers": 2, "ffn": 128}),
        "unet": ModelSpec("unet", "UNet 64x64 width 8 (dry run)", "image", ["logits"], (3, 64, 64), "image",
                          ["fp16"], [1], options={"width": 8}, calibrateShape=(3, 64, 64)),
    }
