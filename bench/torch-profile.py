"""Where PyTorch's time goes in the anchor's training step, for BENCHMARKS.md "train".

Loads ../shared/anchors/torch_anchor.py (the seed's ResNet50 or insightface's MobileFaceNet with
its ArcFace head, batch 32, 1000 classes, SGD with momentum and weight decay, random tensors),
runs two warm-up steps, then profiles STEPS steps with torch.profiler and prints ms per step by
op, grouped as bench/train-step.js --profile groups ours (conv forward / backward, BatchNorm,
ReLU, pooling, optimiser, other), then the top ops, as JSON on stdout.

Usage: /usr/bin/python3 bench/torch-profile.py [seed-resnet50|mobilefacenet] [THREADS] [STEPS]
"""
import importlib.util, json, os, sys
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

ANCHOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "anchors", "torch_anchor.py")

# aten op name -> group (ops not listed fall into "other")
GROUPS = {
    "aten::mkldnn_convolution": "conv forward",
    "aten::thnn_conv2d": "conv forward",
    "aten::_slow_conv2d_forward": "conv forward",
    "aten::convolution_backward": "conv backward (dX + dW)",
    "aten::native_batch_norm": "BatchNorm forward",
    "aten::native_batch_norm_backward": "BatchNorm backward",
    "aten::relu_": "ReLU / PReLU",
    "aten::clamp_min_": "ReLU / PReLU",
    "aten::threshold_backward": "ReLU / PReLU",
    "aten::_prelu_kernel": "ReLU / PReLU",
    "aten::_prelu_kernel_backward": "ReLU / PReLU",
    "aten::max_pool2d_with_indices": "pooling",
    "aten::max_pool2d_with_indices_backward": "pooling",
}


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "seed-resnet50"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    spec = importlib.util.spec_from_file_location("torch_anchor", ANCHOR)
    anchor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(anchor)
    torch.set_num_threads(threads)
    net, head = anchor.MODELS[name](), anchor.ArcHead(512, 1000)
    opt = torch.optim.SGD(list(net.parameters()) + list(head.parameters()), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x, y = torch.randn(32, 3, 112, 112), torch.randint(0, 1000, (32,))
    net.train()

    def step():
        opt.zero_grad()
        F.cross_entropy(head(net(x), y), y).backward()
        opt.step()

    step(); step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    averages = prof.key_averages()
    # Self time of every op (children excluded), so that the ops add up to the total.
    ops = {e.key: e.self_cpu_time_total / 1000 / steps for e in averages}
    total = sum(ops.values())
    groups = {}
    for op, ms in ops.items():
        if op in GROUPS:
            groups[GROUPS[op]] = groups.get(GROUPS[op], 0) + ms
    # The optimiser's step runs generic ops (add_, mul_) as children: its inclusive time.
    groups["optimiser"] = sum(e.cpu_time_total for e in averages if e.key.startswith("Optimizer.step")) / 1000 / steps
    groups["other"] = total - sum(groups.values())
    top = sorted(ops.items(), key=lambda kv: -kv[1])[:15]
    print(json.dumps({
        "model": name, "threads": threads, "steps": steps, "totalMsPerStep": round(total, 1),
        "groups": {g: round(ms, 1) for g, ms in sorted(groups.items(), key=lambda kv: -kv[1])},
        "top": [[op, round(ms, 1)] for op, ms in top],
    }, indent=1))


if __name__ == "__main__":
    main()
