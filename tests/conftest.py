"""Fixtures shared across test folders. Helper functions and the tiny configuration live in
``helpers.py`` (``from helpers import ...``)."""

from __future__ import annotations

import pytest

from helpers import tiny_config, torch_threads


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

