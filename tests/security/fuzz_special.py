"""Issue 27's fuzz families: special files (FIFOs, devices, folders, dangling and looping links)
in place of every file a store, a data folder, a checkpoint, an export and a config may hold,
and ``base:`` chains of config YAML. Used by ``fuzz_targets.main`` in the capped child.

- ``special``: mutation ``n < len(TARGETS)`` puts every kind of :data:`SPECIALS` in place of
  target ``n`` (one copy each), so a default run covers every pair; later mutations draw one
  target and one kind. Entries: the readers of that file (a store's clips, ``examine``,
  prepare's split-folder check, ``load_index``, ``open_split``, ``load_config``,
  ``read_checkpoint``, ``load_encoder``, ``initial_encoder``).
- ``base`` (a kind of the ``yaml`` family's mutations): ``base:`` naming presets, files, chains,
  circles, devices, FIFOs, folders, other files' secrets and values that are not names.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from skipclip.data import ClipDataset, examine, load_index
from skipclip.data.catalog.split_files import check_split_folder
from skipclip.data.open import open_split
from skipclip.data.store.prepared import PreparedStore

SPECIALS = ("fifo", "/dev/zero", "/dev/null", "folder", "dangling link", "link loop", "link to a fifo")
# target name -> (folder of the tiny run it lives in, path inside it, the group of entries that read it)
TARGETS = {
    "manifest": ("store", "manifest.json", "store"),
    "shard": ("store", "videos/cats/cats_0.avi.frames", "store"),
    "splits folder": ("store", "splits", "store"),
    "split file": ("store", "splits/train.txt", "store"),
    "train list": ("lists", "my_train_list.txt", "lists"),
    "val list": ("lists", "my_val_list.txt", "lists"),
    "label map": ("lists", "label_map.txt", "lists"),
    "listed video": ("lists", "train/v0.avi", "lists"),
    "config": ("config", "top.yaml", "config"),
    "base config": ("config", "mid.yaml", "config"),
    "checkpoint": ("run", "checkpoints/last.ckpt", "checkpoint"),
    "export": ("export", "context_encoder.safetensors", "export"),
}


def make_special(path: Path, kind: str, work: Path) -> None:
    """Put a special file of ``kind`` at ``path`` (whatever was there is removed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind.startswith("/dev/"):
        path.symlink_to(kind)
    elif kind == "folder":
        path.mkdir()
    elif kind == "dangling link":
        path.symlink_to(work / "nowhere")
    elif kind == "link loop":
        path.symlink_to(path.name)
    else:
        pipe = work / f"pipe-{path.name}"
        os.mkfifo(pipe)
        path.symlink_to(pipe)


def config_chain(tiny: Path, folder: Path) -> Path:
    """``top.yaml`` -> ``mid.yaml`` -> ``tiny.yaml`` in ``folder``; returns ``top.yaml``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(tiny / "tiny.yaml", folder / "tiny.yaml")
    (folder / "mid.yaml").write_text("base: tiny.yaml\noptim: {lr: 0.002}\n")
    (folder / "top.yaml").write_text("base: mid.yaml\ndata: {batch_size: 4}\n")
    return folder / "top.yaml"


def _copy(tiny: Path, which: str, dest: Path) -> Path:
    if which == "config":
        config_chain(tiny, dest)
        return dest
    return shutil.copytree(tiny / which, dest, symlinks=True)


def _entries(group: str, root: Path, inner: str, cfg, rng) -> dict:
    from skipclip.config import load_config
    from skipclip.weights import load_encoder
    from skipclip.weights.initialise import initial_encoder
    from skipclip.weights.read import read_checkpoint

    if group == "store":

        def clips():
            src = PreparedStore(root, "all")
            ds = ClipDataset(src, clip_len=4, crop_size=32, short_side=32, train=False)
            for i in range(min(len(ds), 3)):
                ds[i]

        return {
            "store clips": clips,
            "examine": lambda: examine(root),
            "prepare's splits check": lambda: check_split_folder(root, True, False),
        }
    if group == "lists":

        def clip():
            src = open_split(root, rng.choice(["train", "test", "all"]), cfg=cfg, short_side=32)
            if len(src):
                ClipDataset(src, clip_len=4, crop_size=32, short_side=32, train=False)[0]

        return {"load_index": lambda: load_index(root), "examine": lambda: examine(root), "open_split clips": clip}
    if group == "config":
        return {"load_config": lambda: load_config(root / "top.yaml")}
    path = root / inner
    if group == "checkpoint":
        return {
            "read_checkpoint": lambda: read_checkpoint(path),
            "load_encoder": lambda: load_encoder(path),
            "initial_encoder --init": lambda: initial_encoder(cfg, init=str(path)),
        }
    return {"load_encoder": lambda: load_encoder(path), "read_checkpoint": lambda: read_checkpoint(path)}


def fuzz_special(tiny: Path, work: Path, rng, cfg) -> tuple[str, dict]:
    names = list(TARGETS)
    n = getattr(rng, "n", 0)
    if n < len(names):
        target, kinds = names[n], list(SPECIALS)
    else:
        target, kinds = rng.choice(names), [rng.choice(SPECIALS)]
    which, inner, group = TARGETS[target]
    entries = {}
    for k, kind in enumerate(kinds):
        root = _copy(tiny, which, work / f"k{k}")
        make_special(root / inner, kind, work / f"k{k}")
        for name, entry in _entries(group, root, inner, cfg, rng).items():
            entries[f"{kind}: {name}"] = entry
    return f"{target} replaced by {', '.join(kinds)}", entries


# ------------------------------------------------------------------------------------- base: chains

BASES = [
    "cpu",
    "paper",
    "nosuch",
    "/dev/zero",
    "/dev/null",
    "/dev/stdin",
    "/etc/passwd",
    "/etc/shadow",
    "pipe.yaml",
    "zero.yaml",
    "folder.yaml",
    "config.yaml",
    "mid.yaml",
    "loop.yaml",
    "big.yaml",
    "../../victim/keep.ckpt",
    "[1, 2]",
    "{a: 1}",
    "~",
    "''",
    "x" * 300 + ".yaml",
    "\\udce9.yaml",
]


def base_files(work: Path, tiny: Path) -> None:
    """The files :data:`BASES` may name, beside the fuzzed config: a FIFO, a link to a device, a
    folder, a chain to the tiny config, one that names the fuzzed config back (a circle), 2 MB."""
    os.mkfifo(work / "pipe.yaml")
    (work / "zero.yaml").symlink_to("/dev/zero")
    (work / "folder.yaml").mkdir()
    shutil.copy(tiny / "tiny.yaml", work / "tiny.yaml")
    (work / "mid.yaml").write_text("base: tiny.yaml\n")
    (work / "loop.yaml").write_text("base: config.yaml\n")
    (work / "big.yaml").write_text("# " + "x" * (2 << 20) + "\n")


def with_base(lines: list[str], rng) -> list[str]:
    return [f"base: {rng.choice(BASES)}"] + lines
