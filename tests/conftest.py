"""Fixtures shared across test folders. Helper functions and the tiny configuration live in
``helpers.py`` (``from helpers import ...``)."""

from __future__ import annotations

import os

import pytest

from helpers import tiny_config, torch_threads


def pytest_configure(config):
    """One torch thread in the test process, as the child processes get (``helpers.child_env``).
    On a shared 2-core machine torch's two threads spin against the other jobs and a tiny run
    takes up to 40x longer (the budget tests: 2.5 s idle, 60-120 s beside other work); the tiny
    models gain little from a second thread when the cores are idle. ``OMP_NUM_THREADS`` decides
    instead when it is set."""
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_pretrained_run(tmp_path_factory):
    """A finished pretraining run of the tiny configuration, trained once per session as
    ``skipclip pretrain --data synthetic --config tiny.yaml --checkpoint-every 0`` trains it in a
    child process (:func:`helpers.child_env`: one thread): 64 synthetic videos, 3 epochs of 16
    steps. It holds ``checkpoints/{last,epoch0000,epoch0001,epoch0002}.ckpt``, ``run.json``,
    ``logs/`` and ``config.yaml`` (pass it as ``--config`` to train the same way again).

    Shared by every test that asks for it: read it, never write into it (``shutil.copytree`` it
    first). It is the uninterrupted reference of the exact-resume tests.
    """
    from skipclip.config import load_config
    from skipclip.recipes.pretrain import pretrain

    root = tmp_path_factory.mktemp("tiny_pretrained")
    cfg = load_config(str(tiny_config(root / "tiny.yaml")))
    with torch_threads(1):
        pretrain(cfg, "synthetic", root / "run", progress=False, checkpoint_every=0)
    return root / "run"


@pytest.fixture
def report_writes(monkeypatch):
    """How each ``report.json`` reached the disk while the test ran, as ``(how, path)`` pairs:
    ``"renamed"`` (a finished temporary file renamed over it: a kill leaves the old report or the
    new one, whole) or ``"opened"`` (opened for writing in place: a kill leaves half a report)."""
    import builtins
    import io
    import os

    seen: list[tuple[str, str]] = []
    real_open, real_os_open, real_replace, real_rename = builtins.open, os.open, os.replace, os.rename

    def report(path) -> bool:
        return isinstance(path, (str, bytes, os.PathLike)) and os.path.basename(os.fsdecode(path)) == "report.json"

    def spy_open(file, mode="r", *args, **kwargs):
        if report(file) and set(mode) & set("wax+"):
            seen.append(("opened", os.fsdecode(file)))
        return real_open(file, mode, *args, **kwargs)

    def spy_os_open(path, flags, *args, **kwargs):
        if report(path) and flags & (os.O_WRONLY | os.O_RDWR):
            seen.append(("opened", os.fsdecode(path)))
        return real_os_open(path, flags, *args, **kwargs)

    def spy_rename(real):
        def rename(src, dst, *args, **kwargs):
            if report(dst):
                seen.append(("renamed", os.fsdecode(dst)))
            return real(src, dst, *args, **kwargs)

        return rename

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    monkeypatch.setattr(os, "replace", spy_rename(real_replace))
    monkeypatch.setattr(os, "rename", spy_rename(real_rename))
    return seen


@pytest.fixture(autouse=True)
def _run_in_a_temporary_folder(tmp_path, monkeypatch):
    """Every test runs in its own empty folder: a command's default output (``demo-out/``,
    ``evaluation-random/``) never lands in the checkout."""
    monkeypatch.chdir(tmp_path)
