"""Tensors and reverse-mode automatic differentiation (backpropagation, checklist F3).

A :class:`Tensor` holds an array and, when it was computed by an operation that needs gradients,
the :class:`Function` node that made it (``grad_fn``). The nodes form a directed acyclic graph from
the inputs to the result. ``y.backward()`` walks that graph once, from ``y`` back to the leaves, in
reverse topological order, and applies the chain rule at each node::

    dL/dx_i = sum over the outputs y that used x_i of  (dy/dx_i)^T dL/dy

Every node's local rule is its ``backward``: it turns the gradient of its output (``gy``) into the
gradients of its inputs. A tensor used twice receives the sum of both paths' gradients, which is
why gradients *accumulate* (``+=``), in the leaves' ``.grad`` as in PyTorch.
"""
from __future__ import annotations

import contextlib
import numbers

import numpy as np

from . import backend

__all__ = ["Tensor", "Function", "tensor", "as_tensor", "no_grad", "enable_grad",
           "is_grad_enabled", "set_grad_enabled", "observe_ops"]

# ---------------------------------------------------------------------------------------------
# Grad mode
# ---------------------------------------------------------------------------------------------
_grad_enabled = True


def is_grad_enabled() -> bool:
    """True unless inside :func:`no_grad`."""
    return _grad_enabled


class set_grad_enabled(contextlib.ContextDecorator):
    """Context manager / decorator that switches graph recording on or off."""

    def __init__(self, mode: bool):
        self.mode = bool(mode)
        self.prev = None

    def __enter__(self):
        global _grad_enabled
        self.prev, _grad_enabled = _grad_enabled, self.mode
        return self

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self.prev
        return False


def no_grad():
    """Record no graph inside the block (inference, parameter updates)::

        with striate.no_grad():
            logits = model(x)
    """
    return set_grad_enabled(False)


def enable_grad():
    """Record the graph again inside a :func:`no_grad` block."""
    return set_grad_enabled(True)


# ---------------------------------------------------------------------------------------------
# Op observers: tools that watch every op of a forward pass
# ---------------------------------------------------------------------------------------------
_op_observers: list = []


@contextlib.contextmanager
def observe_ops(observer):
    """Call ``observer(fn, inputs, output)`` after every :class:`Function` runs inside the block.

    ``fn`` is the Function instance (its settings, e.g. a convolution's ``stride``, are on it),
    ``inputs`` the tuple of input tensors (``None`` for an absent optional input) and ``output``
    the result. This is how :func:`striate.analysis.summary` counts multiply-adds and follows
    receptive fields through a whole forward pass, including the ops a model's ``forward`` calls
    between its layers (a residual sum, a concatenation). Observers see every thread's ops.

    Example::

        names = []
        with observe_ops(lambda fn, inputs, out: names.append(fn.name)):
            model(x)                          # names: ['ConvNd', 'ReLU', 'MaxPool', ...]
    """
    _op_observers.append(observer)
    try:
        yield observer
    finally:
        _op_observers.remove(observer)


# ---------------------------------------------------------------------------------------------
# Function: one node of the graph
# ---------------------------------------------------------------------------------------------
class Function:
    """One differentiable operation: ``forward`` and ``backward`` side by side.

    Subclasses take their non-tensor settings (stride, axis, ...) in ``__init__`` and implement:

    - ``forward(*xs)``: arrays in, one array out. Keep what backward needs on ``self``
      (minimally: the output itself when the derivative is a function of it).
    - ``backward(gy)``: the gradient of the output in, a tuple with one gradient per input out
      (``None`` for an input that needs none). ``self.needs_input_grad[i]`` tells whether input
      ``i`` needs one, so expensive gradients nobody asked for are skipped.

    Calling the instance on tensors runs ``forward`` and, when gradients are being recorded and an
    input requires one, links the result into the graph::

        y = Exp()(x)          # y.grad_fn is that Exp node; its inputs are (x,)
    """

    inputs: tuple = ()
    needs_input_grad: tuple = ()

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError

    def __call__(self, *inputs) -> "Tensor":
        tensors = tuple(None if x is None else as_tensor(x) for x in inputs)
        self.needs_input_grad = tuple(t is not None and t.requires_grad for t in tensors)
        record = _grad_enabled and any(self.needs_input_grad)
        if not record:
            self.needs_input_grad = (False,) * len(tensors)
        y = self.forward(*(None if t is None else t.data for t in tensors))
        out = Tensor(y, requires_grad=record)
        if record:
            self.inputs = tensors
            out.grad_fn = self
        for observer in _op_observers:
            observer(self, tensors, out)
        return out

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        return f"<{self.name}>"


# ---------------------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------------------
def _infer_dtype(data):
    """PyTorch's rules: Python floats become the default dtype, ints int64, bools bool."""
    if isinstance(data, bool):
        return np.bool_
    if isinstance(data, numbers.Integral):
        return np.int64
    if isinstance(data, numbers.Real):
        return backend.get_default_dtype()
    return None


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    Args:
        data: an array, a nested list or a scalar. Python floats become float32 (the default
            dtype); NumPy arrays keep their dtype.
        requires_grad: record operations on this tensor so ``backward`` can reach it.

    Attributes:
        data: the underlying NumPy (or CuPy) array.
        grad: the accumulated gradient (a Tensor of the same shape) after ``backward``; leaves only.
        grad_fn: the :class:`Function` that produced this tensor, ``None`` for leaves.
    """

    __array_priority__ = 1000  # so ndarray + Tensor defers to Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        xp = backend.get_array_module(data)
        if dtype is None and not hasattr(data, "dtype"):
            dtype = _infer_dtype(data)
            if dtype is None:  # a (nested) list: floats -> default dtype, ints -> int64
                arr = np.asarray(data)
                if arr.dtype.kind == "f":
                    dtype = backend.get_default_dtype()
                elif arr.dtype.kind in "iu":
                    dtype = np.int64
        self.data = xp.asarray(data, dtype=dtype)
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError("Tensor: only floating-point tensors can require gradients, "
                            f"got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self.grad_fn: Function | None = None

    # ---- basic properties ----------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def T(self) -> "Tensor":
        return self.permute(*reversed(range(self.ndim)))

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        body = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(")
        extra = f", dtype={self.dtype}" if self.dtype not in (np.float32, np.int64) else ""
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ---- conversion ------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shares memory on the CPU; detach first to be safe)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item: only a tensor with one element can be converted, "
                             f"got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """A tensor sharing this one's data, cut from the graph."""
        return Tensor(self.data)

    def requires_grad_(self, mode: bool = True) -> "Tensor":
        if mode and self.dtype.kind not in "fc":
            raise TypeError(f"requires_grad_: dtype {self.dtype} cannot require gradients")
        self.requires_grad = bool(mode)
        return self

    def astype(self, dtype) -> "Tensor":
        """Cast to ``dtype``; differentiable between floating dtypes."""
        from .functional.elementwise import cast
        return cast(self, dtype)

    to = astype

    def float(self) -> "Tensor":
        return self.astype(np.float32)

    def double(self) -> "Tensor":
        return self.astype(np.float64)

    def zero_(self) -> "Tensor":
        self.data[...] = 0
        return self

    # ---- backpropagation -------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf), times ``gradient``, into every leaf's ``.grad``.

        Args:
            gradient: the gradient of some scalar with respect to this tensor; may be omitted
                only when this tensor holds a single element (it is then 1).
            retain_graph: keep the graph's saved arrays so ``backward`` can run through it again.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad and has no grad_fn; "
                               "create the inputs with requires_grad=True")
        xp = backend.get_array_module(self.data)
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: gradient can be implicit only for a tensor with "
                                   f"one element, got shape {self.shape}")
            gy = xp.ones_like(self.data)
        else:
            gy = xp.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                            dtype=self.dtype)
            if gy.shape != self.shape:
                raise ValueError(f"backward: gradient has shape {gy.shape}, "
                                 f"expected the tensor's shape {self.shape}")
        _run_backward(self, gy, retain_graph)

    # ---- operators (defined in functional/, bound here) ------------------------------------
    def __add__(self, other): return E.add(self, other)
    def __radd__(self, other): return E.add(other, self)
    def __sub__(self, other): return E.sub(self, other)
    def __rsub__(self, other): return E.sub(other, self)
    def __mul__(self, other): return E.mul(self, other)
    def __rmul__(self, other): return E.mul(other, self)
    def __truediv__(self, other): return E.div(self, other)
    def __rtruediv__(self, other): return E.div(other, self)
    def __pow__(self, other): return E.pow(self, other)
    def __rpow__(self, other): return E.pow(other, self)
    def __matmul__(self, other): return E.matmul(self, other)
    def __rmatmul__(self, other): return E.matmul(other, self)
    def __neg__(self): return E.neg(self)
    def __abs__(self): return E.abs(self)
    def __getitem__(self, index): return S.getitem(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and _grad_enabled:
            raise RuntimeError("setitem: in-place assignment to a tensor that requires grad "
                               "would break its gradient; do it under striate.no_grad()")
        self.data[index] = value.data if isinstance(value, Tensor) else value

    # comparisons are not differentiable: they return boolean tensors
    def __lt__(self, other): return Tensor(self.data < _raw(other))
    def __le__(self, other): return Tensor(self.data <= _raw(other))
    def __gt__(self, other): return Tensor(self.data > _raw(other))
    def __ge__(self, other): return Tensor(self.data >= _raw(other))
    def __eq__(self, other): return Tensor(self.data == _raw(other))  # noqa: elementwise
    def __ne__(self, other): return Tensor(self.data != _raw(other))
    __hash__ = object.__hash__

    # ---- methods mirroring torch.Tensor ----------------------------------------------------
    def exp(self): return E.exp(self)
    def log(self): return E.log(self)
    def sqrt(self): return E.sqrt(self)
    def abs(self): return E.abs(self)
    def clamp(self, min=None, max=None): return E.clamp(self, min, max)
    def matmul(self, other): return E.matmul(self, other)
    def sum(self, dim=None, keepdim=False): return R.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return R.mean(self, dim, keepdim)
    def max(self, dim=None, keepdim=False): return R.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return R.min(self, dim, keepdim)
    def var(self, dim=None, keepdim=False, correction=1): return R.var(self, dim, keepdim, correction)
    def argmax(self, dim=None, keepdim=False): return R.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return R.argmin(self, dim, keepdim)
    def reshape(self, *shape): return S.reshape(self, *shape)
    view = reshape
    def flatten(self, start_dim=0, end_dim=-1): return S.flatten(self, start_dim, end_dim)
    def transpose(self, dim0, dim1): return S.transpose(self, dim0, dim1)
    def permute(self, *dims): return S.permute(self, *dims)
    def squeeze(self, dim=None): return S.squeeze(self, dim)
    def unsqueeze(self, dim): return S.unsqueeze(self, dim)
    def split(self, split_size_or_sections, dim=0): return S.split(self, split_size_or_sections, dim)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """Make a new leaf tensor from ``data`` (copied), like ``torch.tensor``."""
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.get_array_module(data)
    if hasattr(data, "dtype"):
        data = xp.array(data, copy=True)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def as_tensor(x, like: Tensor | None = None) -> Tensor:
    """Return ``x`` as a Tensor without copying; a Python scalar takes ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    if like is not None and isinstance(x, numbers.Number) and not isinstance(x, bool):
        xp = backend.get_array_module(like.data)
        dtype = like.dtype if like.dtype.kind in "fc" else None
        return Tensor(xp.asarray(x, dtype=dtype))
    return Tensor(x)


# ---------------------------------------------------------------------------------------------
# The backward pass
# ---------------------------------------------------------------------------------------------
def _topological_order(root: Tensor) -> list[Tensor]:
    """Tensors reachable from ``root`` through grad_fn links, each after all tensors it feeds.

    Iterative depth-first search, so deep networks do not hit Python's recursion limit.
    """
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        t, children_done = stack.pop()
        if children_done:
            order.append(t)
            continue
        if id(t) in visited:
            continue
        visited.add(id(t))
        stack.append((t, True))
        if t.grad_fn is not None:
            if t.grad_fn.inputs is None:
                raise RuntimeError(f"backward: the graph through {t.grad_fn.name} was already "
                                   "freed by an earlier backward; pass retain_graph=True to "
                                   "backpropagate through it twice")
            for x in t.grad_fn.inputs:
                if x is not None and x.requires_grad and id(x) not in visited:
                    stack.append((x, False))
    return order  # inputs before the tensors computed from them


def _run_backward(root: Tensor, gy, retain_graph: bool) -> None:
    grads = {id(root): gy}  # gradient accumulated so far for each tensor on the graph
    for t in reversed(_topological_order(root)):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        fn = t.grad_fn
        if fn is None:  # a leaf: accumulate into .grad
            _accumulate_leaf(t, g)
            continue
        gxs = fn.backward(g)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        if len(gxs) != len(fn.inputs):
            raise RuntimeError(f"{fn.name}.backward returned {len(gxs)} gradients for "
                               f"{len(fn.inputs)} inputs")
        for x, gx in zip(fn.inputs, gxs):
            if x is None or gx is None or not x.requires_grad:
                continue
            if gx.shape != x.shape:
                raise RuntimeError(f"{fn.name}.backward returned a gradient of shape {gx.shape} "
                                   f"for an input of shape {x.shape}")
            prev = grads.get(id(x))
            grads[id(x)] = gx if prev is None else prev + gx  # a node used twice: sum the paths
        if not retain_graph:  # free what forward saved; inputs=None marks the node as used
            fn.__dict__.clear()
            fn.inputs = None


def _accumulate_leaf(t: Tensor, g) -> None:
    if g.dtype != t.dtype:
        g = g.astype(t.dtype)
    if t.grad is None:
        # copy: g may be the very array another tensor's gradient holds (add passes gy through)
        t.grad = Tensor(g.copy())
    else:
        t.grad.data += g


# The operators above are defined in functional/, which imports this module; bind them last.
from .functional import elementwise as E  # noqa: E402
from .functional import reduction as R  # noqa: E402
from .functional import shape as S  # noqa: E402
