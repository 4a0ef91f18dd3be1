"""``striate explain``: draw why a checkpoint classifies an image as it does.

::

    striate explain runs/lenet5/model.safetensors boot.png --method gradcam --out cam.png
    striate explain runs/lenet5/model.safetensors boot.png --method occlusion --target Sandal

The image is read as ``striate predict`` reads it (the checkpoint's channels and input size, its
normalisation; ``--invert`` for a dark object on a light background). The target is a class index
or name, by default the predicted class. The PNG shows the image, the attribution and the two
overlaid (:func:`striate.explain.plot_attribution`).
"""
from __future__ import annotations

import os

import numpy as np

from .. import cli
from .. import train
from . import attribution as A

__all__ = ["METHODS", "add_parser", "cmd_explain"]

METHODS = {
    "saliency": ("saliency (Simonyan et al. 2014)", A.saliency),
    "smoothgrad": ("SmoothGrad (Smilkov et al. 2017)", A.smoothgrad),
    "gradcam": ("Grad-CAM (Selvaraju et al. 2017)", A.grad_cam),
    "guided": ("guided backpropagation (Springenberg et al. 2015)", A.guided_backprop),
    "deconv": ("deconvnet (Zeiler & Fergus 2014)", A.deconvnet),
    "occlusion": ("occlusion (Zeiler & Fergus 2014)", A.occlusion),
}


def cmd_explain(args) -> int:
    model, meta = cli.load_model(args.checkpoint)
    info = cli._dataset_info(meta)
    raw, x = cli.read_images([args.image], info, args.invert)
    probs = train.predict(model, x, probabilities=True)[0]
    classes = list(info["classes"])
    classes += [str(i) for i in range(len(classes), len(probs))]
    predicted = int(np.argmax(probs))
    target = (predicted if args.target is None
              else cli.class_index(args.target, classes, "striate explain: --target"))
    title, method = METHODS[args.method]
    options = {"layer": args.layer} if args.method == "gradcam" else {}
    try:
        result = method(model, x, target, **options)[0]
    except ValueError as err:
        raise cli.CLIError(str(err)) from None
    out = args.out or f"{os.path.splitext(os.path.basename(args.image))[0]}_{args.method}.png"
    heading = f"{title}: class {classes[target]!r} (p = {probs[target]:.3f})"
    try:
        A.plot_attribution(raw[0], result, out, title=heading)
    except ImportError as err:
        raise cli.CLIError(str(err)) from None
    print(f"predicted: {classes[predicted]} ({probs[predicted]:.4f})")
    print(f"explained: {classes[target]} with {title}")
    print(f"wrote {out}")
    return 0


def add_parser(sub) -> None:
    """Add the ``explain`` subcommand to ``striate``'s subparsers."""
    p = sub.add_parser("explain", help="draw which pixels a prediction depends on",
                       description="Draw an attribution map of one image for one class: the "
                                   "image, the map and the map over the image, as a PNG. The "
                                   "image is prepared as `striate predict` prepares it.")
    p.add_argument("checkpoint", help="a model.safetensors written by `striate train`")
    p.add_argument("image", metavar="IMAGE", help="an image file (PNG, JPEG, ...)")
    p.add_argument("--method", choices=list(METHODS), default="saliency",
                   help="saliency (gradient), smoothgrad (averaged over noisy copies), gradcam "
                        "(class activation map of --layer), guided (guided backpropagation), "
                        "deconv (Zeiler & Fergus' deconvnet), occlusion (a sliding grey patch); "
                        "default saliency")
    p.add_argument("--target", metavar="CLASS",
                   help="the class to explain, an index or a name (default: the predicted one)")
    p.add_argument("--layer", metavar="NAME",
                   help="gradcam: the dotted name of the layer (default: the last Conv2d)")
    p.add_argument("--invert", action="store_true",
                   help="invert the image (dark object on a light background -> light on dark)")
    p.add_argument("--out", metavar="PNG",
                   help="the PNG to write (default IMAGE-STEM_METHOD.png here)")
    p.set_defaults(func=cmd_explain)
