"""Optimisers and learning-rate schedules (checklist F4, F7), with torch.optim's API and math.

    from striate import optim
    opt = optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    sched = optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "lr_scheduler"]
