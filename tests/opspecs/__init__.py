"""The op table: every family's rows, joined. Each family owns one module with a list ``OPS``."""
from . import (activation, algebra, conv, dropout, linear, loss, normalization,  # noqa: F401
               pooling)

OPS = [spec for family in (algebra, conv, pooling, activation, normalization, dropout, linear,
                           loss)
       for spec in family.OPS]

_names = [s.name for s in OPS]
assert len(_names) == len(set(_names)), "op table: duplicate row names"
