"""The ``finetune`` (or ``finetune_frozen``) protocol's row of a report: one type from
:func:`~skipclip.eval.finetune.finetune_and_test` to ``report.json``, used by the recipes, the
commands and the API alike."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from skipclip.eval.finetune_history import FinetuneHistory
from skipclip.eval.video_level import VideoLevelResult
from skipclip.utils.records import record

FROZEN_METHOD = "linear layer trained with Adam on frozen g, clip level (fine-tuning pipeline)"


def protocol_name(frozen: bool) -> str:
    return "finetune_frozen" if frozen else "finetune"


@dataclass(frozen=True, kw_only=True)
class FinetuneResult:
    """The ``finetune`` (or ``finetune_frozen``) protocol's row of a report (:func:`finetune_and_test`).

    Attributes:
        init: where g started; ``None`` until the caller that knows says (``dataclasses.replace``).
        protocol: ``"finetune"`` or ``"finetune_frozen"``.
        (The fields after ``test`` are ``None`` for a classifier tested as it was fine-tuned earlier.)
        test: the test of the kept weights; its fields are the row's first.
        val_top1: best validation video top-1 (``None`` without validation).
        best_epoch, best_step: where the kept weights come from.
        epochs, steps: how long it trained.
        budget: the budget as text.
        selected_by: how the kept weights were chosen, in words.
        seed: the run's seed.
        train_s: wall time of fine-tuning.
        failed_videos: ``{video: reason}`` of every unreadable training, validation or test video.
        method: :data:`FROZEN_METHOD` for ``finetune_frozen`` (``None``: not written).
        wall_s: wall time of fine-tuning and testing.
    """

    init: str | None = None
    protocol: str
    test: VideoLevelResult
    val_top1: float | None = None
    best_epoch: int | None = None
    epochs: int | None = None
    best_step: int | None = None
    steps: int | None = None
    budget: str | None = None
    selected_by: str | None = None
    seed: int | None = None
    train_s: float | None = None
    failed_videos: dict[str, str] = dataclasses.field(default_factory=dict)
    method: str | None = None
    wall_s: float | None = None

    @classmethod
    def of(
        cls,
        test: VideoLevelResult,
        history: FinetuneHistory,
        *,
        seed: int,
        frozen: bool,
        wall_s: float,
        init: str | None = None,
    ) -> FinetuneResult:
        """The row of a fine-tuning (``history``) whose kept weights were tested (``test``)."""
        return cls(
            init=init,
            protocol=protocol_name(frozen),
            test=test,
            val_top1=history.val_top1,
            best_epoch=history.best_epoch,
            epochs=history.epochs,
            best_step=history.best_step,
            steps=history.steps,
            budget=history.budget.budget,
            selected_by=history.selected_by,
            seed=seed,
            train_s=history.wall_s,
            failed_videos={**history.failed_videos, **test.failed_test_videos},
            method=FROZEN_METHOD if frozen else None,
            wall_s=wall_s,
        )

    def to_dict(self) -> dict:
        """The row: ``init`` (when set), ``protocol``, the test's fields, then the other fields in order."""
        head = {"init": self.init} if self.init is not None else {}
        rest = record(self, omit_none=("method",), exclude=("init", "protocol", "test"))
        return {**head, "protocol": self.protocol, **self.test.to_dict(), **rest}
