"""What a resumed run may change in its configuration: the keys that alter only how it is watched
or how long it runs, not what the continuation computes; and the settings that differ from a saved
configuration."""

from __future__ import annotations

from skipclip.config import Config

# keys a resumed run may change: they do not alter what the continuation computes
RESUMABLE_CHANGES = {
    "optim.max_epochs",
    "finetune.max_epochs",
    "trainer.time_budget_min",
    "data.num_workers",
    "optim.max_steps",
    "finetune.max_steps",  # extend a run (LightningCLI allows it too)
    "optim.val_every_steps",
    "finetune.val_every_steps",
    "finetune.val_every",  # cadence
    "data.loader_timeout",
    "data.prefetch",
    "data.gpu_decode",
    "trainer.log_every_n_steps",
    "trainer.on_nonfinite",
    "trainer.accelerator",
    "trainer.limit_train_batches",
    "trainer.devices",
    "trainer.num_nodes",  # a new world size warns: not bit-exact
    "pretext.health_windows",
    "trainer.knn_every",
    "trainer.health_every",
}  # measurements only


def _flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(saved: dict, cfg) -> dict:
    """``{key: (saved, now)}`` for every setting that differs from the saved configuration; a key
    the saved configuration lacks (written before the key existed) counts as its default."""

    a, b = {**_flat(Config().to_dict()), **_flat(saved)}, _flat(cfg.to_dict())
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}
