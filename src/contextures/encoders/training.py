"""The training loop: AdamW over mini-batches or the full batch, early stopping, divergence checks.

:func:`train` is generic: it receives a function that returns the loss of a set of training rows
(drawing from the context happens inside that function, through the data pipeline) and runs

    for epoch in 1..epochs:
        for rows in batches(permutation of the training rows):   # one batch when batch_size=None
            loss = batch_loss(rows); check finite; backward; AdamW step
        if validation rows: held-out loss (fixed draws), early stopping with ``patience``

A non-finite loss raises :class:`~contextures.exceptions.TrainingError` naming the step and the
epoch. Randomness comes from one ``numpy.random.Generator`` (batch order and context draws), so a
seed reproduces the run; the validation draws use a generator re-seeded every epoch so the
held-out loss compares like with like.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..exceptions import TrainingError

BatchLoss = Callable[[np.ndarray, np.random.Generator], torch.Tensor]


@dataclass
class TrainingResult:
    """What happened during :func:`train`."""

    train_loss: list[float] = field(default_factory=list)       # mean batch loss per epoch
    validation_loss: list[float] = field(default_factory=list)  # per epoch (empty without rows)
    epochs_run: int = 0
    steps: int = 0
    best_epoch: int | None = None
    stopped_early: bool = False
    seconds: float = 0.0


def batches(rows: np.ndarray, batch_size: int | None, rng: np.random.Generator):
    """Shuffled batches of ``rows`` (one batch of all rows, in order, when batch_size is None).

    A last batch smaller than half a batch is merged into the previous one, so every batch has at
    least ``batch_size`` rows when there are that many.
    """
    if batch_size is None or batch_size >= len(rows):
        yield rows
        return
    perm = rows[rng.permutation(len(rows))]
    starts = list(range(0, len(perm), batch_size))
    if len(starts) > 1 and len(perm) - starts[-1] < batch_size:
        starts.pop()
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(perm)
        yield perm[s:e]


def train(modules: nn.Module, batch_loss: BatchLoss, train_rows: np.ndarray,
          validation_rows: np.ndarray | None = None, *, epochs: int = 200,
          batch_size: int | None = None, lr: float = 1e-3, weight_decay: float = 1e-4,
          patience: int | None = None, min_delta: float = 1e-4, seed: int = 0,
          max_grad_norm: float | None = None, verbose: bool = False,
          description: str = "training") -> TrainingResult:
    """Train ``modules`` (all their parameters, AdamW) on ``batch_loss``; see the module docstring.

    With ``validation_rows`` and ``patience``, training stops after ``patience`` epochs without a
    relative improvement of ``min_delta`` of the held-out loss, and the weights of the best
    held-out epoch are restored at the end.
    """
    rng = np.random.default_rng(seed)
    params = [p for p in modules.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    result = TrainingResult()
    has_val = validation_rows is not None and len(validation_rows) > 0
    best = math.inf
    best_state = None
    waited = 0
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc=description, disable=not verbose, leave=False,
               dynamic_ncols=True)
    modules.train()
    for epoch in bar:
        total, count = 0.0, 0
        for rows in batches(train_rows, batch_size, rng):
            optimizer.zero_grad(set_to_none=True)
            loss = batch_loss(rows, rng)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise TrainingError(
                    f"{description}: the loss became {value} at step {result.steps + 1} "
                    f"(epoch {epoch + 1}); the run diverged — lower the learning rate "
                    f"(lr={lr:g}) or check the inputs")
            loss.backward()
            if max_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            result.steps += 1
            total += value * len(rows)
            count += len(rows)
        result.train_loss.append(total / max(count, 1))
        result.epochs_run = epoch + 1
        postfix = {"loss": f"{result.train_loss[-1]:.4g}"}
        if has_val:
            modules.eval()
            with torch.no_grad():
                val = float(batch_loss(validation_rows, np.random.default_rng(seed + 1)))
            modules.train()
            if not math.isfinite(val):
                raise TrainingError(f"{description}: the held-out loss became {val} after "
                                    f"step {result.steps} (epoch {epoch + 1})")
            result.validation_loss.append(val)
            postfix["val"] = f"{val:.4g}"
            improved = not math.isfinite(best) or val < best - min_delta * abs(best)
            if improved:
                best = val
                result.best_epoch = epoch + 1
                waited = 0
                if patience is not None:
                    best_state = copy.deepcopy(modules.state_dict())
            else:
                waited += 1
                if patience is not None and waited >= patience:
                    result.stopped_early = True
                    bar.set_postfix(postfix)
                    break
        bar.set_postfix(postfix)
    bar.close()
    if best_state is not None:
        modules.load_state_dict(best_state)
    modules.eval()
    result.seconds = time.perf_counter() - start
    return result
