"""Write tests/reference/torchvision_manifest.json: torchvision's layouts, for tests without it.

For each of alexnet, vgg11/13/16/19 and their ``_bn`` twins, googlenet (with its two auxiliary
classifiers, ``aux_logits=True``) and resnet18/34/50/101/152, the manifest records every
``state_dict`` key with its shape, in torchvision's order, and the parameter count (for
googlenet also the count without the auxiliary heads, the network used at test time). The
Striate tests (tests/test_zoo_torchvision.py) compare the zoo against it, so CI needs no
torchvision.

"logits_check": for each of those names that ``striate.models`` implements when the script runs
(in the registry :data:`striate.models.MODELS`, or as a builder function in its family's module),
the script builds torchvision's model with its random initialisation, gives every batch norm a
random ``weight`` and ``bias`` and the running statistics of two random batches (so
evaluation-mode batch norm is not the identity it is at initialisation), copies the
``state_dict`` into the Striate model (``num_classes=1000``, ``in_channels=3``), runs both in
evaluation mode on one fixed random 224x224 image and records the largest absolute difference of
the logits, next to the largest absolute logit for scale; then it casts both models to float64
and records the difference again (``max_abs_diff_float64``): float32 rounding grows with depth
(about 1e-4 relative at ResNet-152), while in float64 a real mismatch stands far above rounding.
A name whose keys or shapes differ is recorded with the reason instead.

torchvision must not enter Striate's own virtual environment (PyTorch there is the pinned test
oracle), so run this in a separate one, outside the repository::

    python3 -m venv /work/tvenv
    /work/tvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy
    /work/tvenv/bin/pip install threadpoolctl safetensors tqdm pillow matplotlib  # striate's deps
    /work/tvenv/bin/pip install -e /work/main --no-deps
    /work/tvenv/bin/python scripts/torchvision_manifest.py            # from the repository root

Options: ``--no-logits`` writes the layouts only (seconds; the logits check runs every model at
224x224 in NumPy, several minutes on two cores); ``--output PATH`` writes elsewhere.
"""
from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torchvision

NAMES = (["alexnet"] + [f"vgg{d}" for d in (11, 13, 16, 19)]
         + [f"vgg{d}_bn" for d in (11, 13, 16, 19)] + ["googlenet"]
         + [f"resnet{d}" for d in (18, 34, 50, 101, 152)])
AUX_PREFIXES = ("aux1.", "aux2.")
DEFAULT_OUTPUT = Path(__file__).resolve().parents[1] / "tests" / "reference" / \
    "torchvision_manifest.json"


def torchvision_model(name: str) -> torch.nn.Module:
    """torchvision's ``name`` with random weights, 1000 classes (googlenet with its aux heads)."""
    build = getattr(torchvision.models, name)
    if name == "googlenet":
        return build(weights=None, aux_logits=True, init_weights=True)
    return build(weights=None)


def layout(model: torch.nn.Module) -> dict:
    """Every state_dict key with its shape, in order, and the parameter count."""
    entry = {"num_parameters": sum(p.numel() for p in model.parameters()),
             "state_dict": [[k, list(v.shape)] for k, v in model.state_dict().items()]}
    aux = sum(p.numel() for k, p in model.named_parameters() if k.startswith(AUX_PREFIXES))
    if aux:
        entry["num_parameters_without_aux"] = entry["num_parameters"] - aux
    return entry


def striate_builder(name: str):
    """Striate's builder of ``name``: the registry's, else the family module's; None if absent."""
    from striate import models
    if name in models.MODELS:
        return models.MODELS[name].builder
    family = re.match(r"[a-z]+", name).group()                # vgg16_bn -> vgg
    try:
        module = importlib.import_module(f"striate.models.{family}")
    except ImportError:
        return None
    build = getattr(module, name, None)
    return build if callable(build) else None


def randomise_batch_norms(model: torch.nn.Module, seed: int = 1) -> None:
    """Random affine weights, then running statistics measured on two random batches (as if
    trained), so evaluation-mode batch norm is neither the identity nor blowing up."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not norms:
        return
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in norms:
            m.weight.copy_(1 + 0.2 * torch.randn(m.num_features, generator=gen))
            m.bias.copy_(0.2 * torch.randn(m.num_features, generator=gen))
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the calibration batches
        model.train()
        for _ in range(2):
            model(torch.randn(4, 3, 224, 224, generator=gen))
        for m in norms:
            m.momentum = 0.1
    model.eval()


def build_striate(name: str, build):
    kwargs = dict(num_classes=1000, in_channels=3)
    if name == "googlenet":
        try:
            return build(aux_logits=True, **kwargs)
        except TypeError:
            pass
    return build(**kwargs)


def logits_check(name: str, theirs: torch.nn.Module, x: np.ndarray) -> dict:
    """Copy ``theirs``' state_dict into Striate's ``name``; compare eval-mode logits on x."""
    import striate
    build = striate_builder(name)
    if build is None:
        return None
    ours = build_striate(name, build)
    their_state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    our_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    missing = [k for k in their_state if k not in our_shapes]
    extra = [k for k in our_shapes if k not in their_state]
    if extra or any(not k.startswith(AUX_PREFIXES) for k in missing):
        return {"error": f"state_dict keys differ: torchvision's not in Striate's {missing[:8]}, "
                         f"Striate's not in torchvision's {extra[:8]}"}
    bad = [k for k in our_shapes if our_shapes[k] != their_state[k].shape]
    if bad:
        return {"error": f"shapes differ at {bad[:8]}"}
    if list(our_shapes) != [k for k in their_state if k in our_shapes]:
        return {"error": "same keys in a different order"}
    ours.load_state_dict({k: v for k, v in their_state.items() if k in our_shapes})
    ours.eval()
    theirs.eval()
    start = time.perf_counter()
    with striate.no_grad():
        out = ours(striate.tensor(x))
    seconds = time.perf_counter() - start
    out = getattr(out, "logits", out)
    out = out[0] if isinstance(out, (tuple, list)) else out
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x))
    ref = getattr(ref, "logits", ref).numpy()
    result = {"max_abs_diff": float(np.abs(out.data - ref).max()),
              "max_abs_logit": float(np.abs(ref).max()),
              "striate_seconds": round(seconds, 2)}
    # the same in float64: a wrong weight or op shows up here far above rounding (~1e-12)
    ours.double()
    theirs.double()
    with striate.no_grad():
        out = ours(striate.tensor(x.astype(np.float64)))
    out = getattr(out, "logits", out)
    out = out[0] if isinstance(out, (tuple, list)) else out
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x.astype(np.float64)))
    ref = getattr(ref, "logits", ref).numpy()
    assert out.data.dtype == ref.dtype == np.float64
    result["max_abs_diff_float64"] = float(np.abs(out.data - ref).max())
    if missing:
        result["note"] = "the Striate model has no auxiliary heads; they were not loaded"
    return result


def dump(manifest: dict) -> str:
    """Compact JSON with one line per state_dict key."""
    lines = ["{", f'  "torch": {json.dumps(manifest["torch"])},',
             f'  "torchvision": {json.dumps(manifest["torchvision"])},', '  "models": {']
    names = list(manifest["models"])
    for i, name in enumerate(names):
        entry = manifest["models"][name]
        lines.append(f"    {json.dumps(name)}: {{")
        for k, v in entry.items():
            if k != "state_dict":
                lines.append(f"      {json.dumps(k)}: {json.dumps(v)},")
        rows = [f"        {json.dumps(row)}" for row in entry["state_dict"]]
        lines.append('      "state_dict": [')
        lines.append(",\n".join(rows))
        lines.append("      ]")
        lines.append("    }" + ("," if i < len(names) - 1 else ""))
    lines.append("  },")
    lines.append(f'  "logits_check": {json.dumps(manifest["logits_check"], indent=4)}'
                 .replace("\n", "\n  "))
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--no-logits", action="store_true", help="layouts only")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).numpy()
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__,
                "models": {}, "logits_check": {
                    "input": "torch.randn(1, 3, 224, 224) from a generator seeded 0, float32; "
                             "batch norms given random weight and bias and the running "
                             "statistics of two random batches; both models in eval mode"}}
    for name in NAMES:
        model = torchvision_model(name)
        manifest["models"][name] = layout(model)
        if not args.no_logits:
            randomise_batch_norms(model)
            result = logits_check(name, model, x)
            if result is not None:
                manifest["logits_check"][name] = result
        print(name, manifest["models"][name]["num_parameters"],
              manifest["logits_check"].get(name, ""), flush=True)
        del model
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(dump(manifest))
    json.loads(args.output.read_text())  # the hand-written layout is valid JSON
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
