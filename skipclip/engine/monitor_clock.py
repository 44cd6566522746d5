"""How much of a run went to watching it rather than training it: the seconds of the validation
loops (the pretext-health and kNN measurements made at them included), which the run's summary
reports beside its wall time so that the cost of a validation cadence is visible."""

from __future__ import annotations

import time

import lightning as L


class MonitorClock(L.Callback):
    """Wall seconds inside Lightning's validation loops (``seconds``) and their count
    (``validations``), over every attempt of a resumed run; the measurements other callbacks make
    at ``on_validation_epoch_end`` fall between its start and stop."""

    def __init__(self):
        self.seconds = 0.0
        self.validations = 0
        self._start: float | None = None

    def on_validation_start(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self.validations += 1
            self._start = None

    # kept in the run's checkpoints, so a resumed run's summary counts its earlier attempts too
    def state_dict(self) -> dict:
        return {"seconds": self.seconds, "validations": self.validations}

    def load_state_dict(self, state: dict) -> None:
        self.seconds, self.validations = float(state["seconds"]), int(state["validations"])


__all__ = ["MonitorClock"]
