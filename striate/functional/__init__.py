"""The math of the lectures, one module per family, called like ``torch.nn.functional``::

    import striate.functional as F
    y = F.max_pool2d(F.relu(F.conv2d(x, w, b, padding=1)), 2)

Every op is a :class:`striate.autograd.Function` subclass (forward and backward side by side, the
formulas in its docstring) plus the lower-case function below it, which checks its arguments and
is the public entry point.
"""
from .elementwise import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .deform_conv import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .pooling_adaptive import *  # noqa: F401,F403
from .pooling_special import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .loss_binary import *  # noqa: F401,F403
