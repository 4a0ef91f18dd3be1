"""Looking inside a trained network: attributions (which input pixels a class score depends on),
visualisations read off the network (what a layer or a unit responds to), and images optimised
to excite or match its activations.

- :mod:`~striate.explain.attribution`: saliency, SmoothGrad, Grad-CAM, guided backpropagation,
  deconvnet, occlusion.
- :mod:`~striate.explain.visualize`: filter grids, feature maps, top patches, grids and PNGs
  (and :func:`striate.analysis.receptive_field`, re-exported).
- :mod:`~striate.explain.synthesis`: class models, inversion, DeepDream.
- :mod:`~striate.explain.style`: Gram matrices, style and content losses, style transfer.

Every method returns NumPy arrays and can draw a PNG with matplotlib.
"""
from __future__ import annotations

from .attribution import *  # noqa: F401,F403
from .attribution import __all__ as _attribution_all
from .style import *  # noqa: F401,F403
from .style import __all__ as _style_all
from .synthesis import *  # noqa: F401,F403
from .synthesis import __all__ as _synthesis_all
from .visualize import *  # noqa: F401,F403
from .visualize import __all__ as _visualize_all

__all__ = list(_attribution_all) + list(_visualize_all) + list(_synthesis_all) + list(_style_all)
