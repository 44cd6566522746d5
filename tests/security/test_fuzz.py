"""Issue 21, "done when": a fuzzer over every kind of file skipclip reads from others.

A tiny run (a prepared store, a Skip-Clip checkpoint with its callback state, its exported
safetensors, a raw folder with split lists and a label map, a config file) is made once per module;
then one child process, capped at its imports plus 3 GB (``crafted.run_capped_script``), mutates
each kind of file ``SKIPCLIP_FUZZ_ITERATIONS`` times (default 40: every kind of mutation at least
once, then at random; 20-40 s on one busy core) with random streams seeded by
``SKIPCLIP_FUZZ_SEED`` (default 0), and runs every entry that reads it (see ``fuzz_targets``).
Every entry must end in success, a :class:`~skipclip.errors.SkipClipError` (the CLI's exit 2
naming the file), or, for reads of a video, a skipped video
(``VideoReadError``, which runs count and report) -- never another exception, never memory above
the cap (nor more than ``ENTRY_MB`` added by one entry, measured by the peak resident memory),
never a deletion outside the run.

Run more: ``SKIPCLIP_FUZZ_ITERATIONS=200 SKIPCLIP_FUZZ_SEED=7 python -m pytest -s tests/security/test_fuzz.py``
(``-s`` prints each kind's outcome counts and slowest entries).
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch
from crafted import run_capped_script, tiny_store
from fuzz_targets import FAMILIES

from helpers import tiny_cfg, tiny_config
from video_factory import video

pytestmark = pytest.mark.e2e  # memory-capped child processes, ~30 s: CI's second step

SEED = int(os.environ.get("SKIPCLIP_FUZZ_SEED", "0"))
ITERATIONS = int(os.environ.get("SKIPCLIP_FUZZ_ITERATIONS", "40"))
HERE = Path(__file__).resolve().parent
ENTRY_MB = 512  # resident memory one entry may add on tiny inputs (a regression allocates gigabytes)
READS = ("read_shard", "store read", "open_split")  # entries that read a video: a VideoReadError is a skip


def tiny_checkpoint(path: Path, cfg) -> Path:
    """What ``skipclip pretrain`` leaves in ``last.ckpt``, for the tiny model: weights, config,
    the checkpoint callback's state (paths inside the run), optimiser and loop state."""
    from skipclip.method.build import build_skipclip

    folder = path.parent
    callback = {
        "monitor": "epoch",
        "best_model_score": torch.tensor(1.0),
        "best_model_path": str(folder / "epoch0001.ckpt"),
        "current_score": torch.tensor(1.0),
        "dirpath": str(folder),
        "kth_value": torch.tensor(0.0),
        "best_k_models": {
            str(folder / "epoch0001.ckpt"): torch.tensor(1.0),
            str(folder / "epoch0000.ckpt"): torch.tensor(0.0),
        },
        "kth_best_model_path": str(folder / "epoch0000.ckpt"),
        "last_model_path": str(folder / "last.ckpt"),
    }
    key = "RunCheckpoint{'monitor': 'epoch', 'mode': 'max', 'every_n_train_steps': 0, 'every_n_epochs': 1}"
    state = {f"model.{k}": v for k, v in build_skipclip(cfg).state_dict().items()}
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": state,
            "hyper_parameters": {"config": cfg.to_dict()},
            "callbacks": {key: callback},
            "optimizer_states": [{"state": {}, "param_groups": []}],
            "lr_schedulers": [],
            "loops": {},
            "epoch": 1,
            "global_step": 10,
            "pytorch-lightning_version": "2.4.0",
        },
        path,
    )
    return path


def tiny_lists(root: Path) -> Path:
    """A raw folder in mmaction2's list layout: train/ and val/ videos, two lists, a label map."""
    for i in range(4):
        video(root / ("train" if i < 3 else "val") / f"v{i}.avi", n=12, h=40, w=56, seed=i)
    (root / "my_train_list.txt").write_text("v0.avi 0\nv1.avi 1\nv2.avi 0\n")
    (root / "my_val_list.txt").write_text("v3.avi 1\n")
    (root / "label_map.txt").write_text("walk\nrun\n")
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_pretrained_run) -> Path:
    from skipclip.weights.export import export_encoders

    root = tmp_path_factory.mktemp("fuzz")
    tiny = root / "tiny"
    shutil.copytree(tiny_pretrained_run, tiny / "trained")  # a real run's resume state and folder
    tiny_store(root / "videos", tiny / "store")
    ckpt = tiny_checkpoint(tiny / "run" / "checkpoints" / "last.ckpt", tiny_cfg())
    export_encoders(ckpt, tiny / "export", frame=True)
    tiny_lists(tiny / "lists")
    tiny_config(tiny / "tiny.yaml")
    (root / "victim" / "sub").mkdir(parents=True)
    (root / "victim" / "keep.ckpt").write_text("not yours")
    (root / "victim" / "sub" / "keep.txt").write_text("mine")
    return tiny


@pytest.fixture(scope="module")
def fuzzed(tiny_run) -> dict:
    """Every family's records, from one capped child; ``died`` names the mutation a dead child was in."""
    body = f"""
        import sys
        sys.path[:0] = [{str(HERE)!r}, {str(HERE.parent)!r}]
        from fuzz_targets import main
        main({str(tiny_run)!r}, {SEED}, {ITERATIONS}, {list(FAMILIES)!r})
    """
    proc = run_capped_script(body, budget=3 << 30, timeout=120 + 60 * ITERATIONS)
    records, started = [], None
    for line in proc.stdout.splitlines():
        if line.startswith("FUZZ "):
            records.append(json.loads(line[5:]))
        elif line.startswith("START "):
            started = json.loads(line[6:])
    done = proc.returncode == 0 and proc.stdout.rstrip().endswith("DONE")
    return {"records": records, "died": None if done else (started, proc.returncode, proc.stderr[-3000:])}


def summary(records: list[dict]) -> str:
    kinds = Counter((r["entry"], r["kind"]) for r in records)
    slow = sorted(records, key=lambda r: -r["seconds"])[:3]
    big = max(records, key=lambda r: r["peak_mb"] or 0)
    return "\n".join(
        [f"  {entry}: {kind} x{n}" for (entry, kind), n in sorted(kinds.items())]
        + [f"  slowest: {r['entry']} {r['seconds']} s ({r['mutation']})" for r in slow]
        + [f"  most memory: {big['entry']} {big['peak_mb']} MB ({big['mutation']})"]
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_every_mutation_ends_in_success_or_a_skipclip_error(fuzzed, family):
    died = fuzzed["died"]
    assert died is None, f"the fuzzing child died (status {died[1]}) in mutation {died[0]} (seed {SEED}):\n{died[2]}"
    records = [r for r in fuzzed["records"] if r["family"] == family]
    print(f"\n{family}: {len(records)} entries run, seed {SEED}\n{summary(records)}")
    assert records
    for r in records:
        context = f"{family} #{r['n']} (seed {SEED}): {r['mutation']} -> {r['entry']}"
        assert r["victim_intact"], f"{context} deleted a file outside the run"
        assert r["kind"] != "crash", f"{context} ended in a traceback:\n{r['message']}"
        assert r["peak_mb"] is None or r["peak_mb"] < ENTRY_MB, f"{context} took {r['peak_mb']} MB of memory"
        assert r["kind"] != "skipped" or r["entry"] in READS or "clips" in r["entry"], (
            f"{context}: a VideoReadError escaped an entry that does not read a video"
        )
