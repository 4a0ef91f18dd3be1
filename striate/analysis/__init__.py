"""Looking at a model without training it: :func:`summary` prints every layer's output shape,
parameters, multiply-adds, receptive field and memory (checklist C13); :func:`receptive_field`
gives one layer's field, with where it starts::

    from striate import analysis, models
    s = analysis.summary(models.lenet5(), (1, 28, 28))
    print(s)                      # the table
    s.total_params, s.total_macs  # (61706, 416520)
    analysis.receptive_field(models.lenet5(), "c3", (1, 28, 28))
    # ReceptiveField(size=(14, 14), jump=(2, 2), offset=(-2, -2))

The command line gives the same table: ``striate summary lenet5 --input 1x28x28``.
:mod:`striate.analysis.fields` holds the receptive-field rules, op by op;
:mod:`striate.analysis.probe` the harness of a look-only forward pass.
"""
from . import fields
from .fields import Field
from .receptive import FieldTracker, ReceptiveField, receptive_field
from .summary import LayerSummary, ModelSummary, count_macs, summary

__all__ = ["summary", "ModelSummary", "LayerSummary", "Field", "count_macs", "fields",
           "receptive_field", "ReceptiveField", "FieldTracker"]
