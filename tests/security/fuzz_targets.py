"""The fuzzer of ``test_fuzz.py``: mutations of every kind of file skipclip reads from others, and
the entry points that read them. Runs in a memory-capped child process (``crafted``); each
mutation's outcome is printed as one ``FUZZ {json}`` line for the test to judge.

Families (each mutation copies the tiny run's file, changes it, and runs every entry of its family):

- ``checkpoint``: tensor shapes and dtypes, missing/extra keys, ``hyper_parameters`` fields (any
  value, recursive and alias-bomb lists too), callback state paths, flipped or cut bytes;
  entries ``initial_encoder`` (``--init`` and ``--inflate``), ``load_skipclip``,
  ``export_encoders``, ``resume_path``, and the checkpoint callbacks' restore-then-clean-up.
- ``safetensors``: header JSON (dtype, shape, offsets, length), metadata (format, arch, width,
  in_channels, config), flipped bytes; entries ``load_encoder``, ``read_checkpoint``, ``initial_encoder``.
- ``manifest``: every field of the manifest and of a video entry (types, huge numbers, negatives,
  paths with ``..``); entries ``PreparedStore`` + reading clips, ``examine`` (doctor).
- ``shard``: header bytes and fields, the offset table, JPEG headers (sizes), frames of another
  size, cut and extended files; entries ``read_shard``, ``check_shard``, a store reading the video.
- ``lists``: labels and paths of split lists, the label map, flipped bytes; entries ``load_index``,
  ``examine``, ``open_split`` + reading a clip.
- ``yaml``: values of a config file (aliases, tags, deep nesting, huge numbers, wrong types),
  lines dropped, bytes flipped, ``base:`` chains and ``base:`` naming devices, FIFOs, folders,
  circles and other files (``fuzz_special.BASES``); ``--set`` values; a resumed run's ``config.yaml``; entries
  ``load_config``, ``parse_sets``, ``check_run_dir``.
- ``resume state``, ``run folder``: see ``fuzz_run_targets``.
- ``special``: FIFOs, devices, folders and links in place of each file of a store, a data folder,
  a checkpoint, an export and a config chain (``fuzz_special``).
"""

from __future__ import annotations

import copy
import faulthandler
import json
import math
import random
import reprlib
import shutil
import struct
import time
import traceback
from pathlib import Path

import torch
from fuzz_special import base_files, fuzz_special, with_base

from skipclip.data import ClipDataset, VideoReadError, examine, load_index
from skipclip.data.open import open_split
from skipclip.data.store.prepared import PreparedStore
from skipclip.data.store.shard import check_shard, read_shard
from skipclip.engine.checkpoint_io import AtomicCheckpointIO
from skipclip.engine.checkpoints import RunCheckpoint, resume_path
from skipclip.engine.runs import check_run_dir
from skipclip.errors import SkipClipError
from skipclip.weights.export import export_encoders
from skipclip.weights.exported import load_exported as load_encoder
from skipclip.weights.initialise import initial_encoder, load_skipclip
from skipclip.weights.read import read_checkpoint

FAMILIES = ("checkpoint", "safetensors", "manifest", "shard", "lists", "yaml", "resume state", "run folder", "special")
ENTRY_SECONDS = 60  # an entry still running after this (a FIFO opened for reading) ends the child, named


def victim_of(work: Path) -> Path:
    """The folder outside the tiny run that no mutation may get deleted (``<root>/victim``)."""
    return work.parents[1] / "victim"


def evil_values(rng: random.Random, work: Path) -> list:
    """Values a file may hold where skipclip expects something else."""
    return [
        None,
        True,
        False,
        -1,
        0,
        1,
        2**31,
        2**63,
        10**30,
        -(10**12),
        1e308,
        math.nan,
        math.inf,
        -0.5,
        3.5,
        "",
        "x",
        "../../victim",
        str(victim_of(work)),
        "/",
        "\u00b2",
        "9" * 5000,
        [],
        [1],
        ["x"],
        {},
        {"a": 1},
        [[[[]]]],
        rng.choice(["r3d18_hara", "imagenet", "jpeg", "train"]),
    ]


def pickle_only_values() -> list:
    """What only a pickle can hold: a list containing itself, 9 levels of 9 shared references, and
    an integer too long to print (Python refuses to convert over 4300 digits to text)."""
    loop: list = []
    loop.append(loop)
    bomb: list = ["x"]
    for _ in range(9):
        bomb = [bomb] * 9
    return [loop, bomb, 10**5000]


def kind_of(rng: random.Random, kinds: list[str]) -> str:
    """Mutation ``n`` of a family: each kind in turn first (so a short run tries every kind), then at random."""
    n = getattr(rng, "n", 0)
    return kinds[n] if n < len(kinds) else rng.choice(kinds)


def flip_bytes(path: Path, rng: random.Random, count: int | None = None, within: int | None = None) -> str:
    data = bytearray(path.read_bytes())
    if not data:
        return "empty"
    n = count or rng.randint(1, 8)
    end = min(len(data), within or len(data))
    for _ in range(n):
        data[rng.randrange(end)] = rng.randrange(256)
    path.write_bytes(bytes(data))
    return f"flipped {n} bytes in the first {end}"


def cut_or_extend(path: Path, rng: random.Random) -> str:
    data = path.read_bytes()
    if rng.random() < 0.5:
        keep = rng.randrange(len(data) + 1)
        path.write_bytes(data[:keep])
        return f"cut to {keep} bytes"
    path.write_bytes(data + bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))))
    return "junk appended"


def set_path(obj, keys: list, value):
    for k in keys[:-1]:
        obj = obj[k]
    obj[keys[-1]] = value


def leaves(obj, prefix=()) -> list[tuple]:
    """Key paths of every value in nested dicts (and the dicts themselves)."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(prefix + (k,))
            out += leaves(v, prefix + (k,))
    return out


# ---------------------------------------------------------------------------------- checkpoint

CLAIMS = {
    "width": [4, 16, 64, 256, 512, 2048, 2**31, 10**12],
    "context_arch": ["r3d_18", "r2plus1d_18", "x"],
    "shortcut": ["A", "B", "C"],
    "target_length": [2, 64, 10**7],
    "in_channels": [6, 300, 10**7, 2**40],
}
CALLBACK_FIELDS = (
    "dirpath",
    "best_model_path",
    "last_model_path",
    "kth_best_model_path",
    "best_k_models",
    "best_model_score",
    "kth_value",
    "current_score",
)


def path_in(work: Path, name: str) -> Path:
    return work / "run" / "checkpoints" / name


def mutate_checkpoint(base: dict, rng: random.Random, work: Path) -> tuple[dict | None, str]:
    obj = copy.deepcopy(base)
    state = obj["state_dict"]
    kind = kind_of(
        rng, ["claim", "shape", "config", "callback", "dtype", "structure", "bytes", "drop", "extra", "stats", "claim"]
    )
    evil = evil_values(rng, work) + pickle_only_values()
    if kind == "claim":  # what the model is built from: a size that the tensors do not have
        key = rng.choice(["width", "context_arch", "shortcut", "target_length"]) if rng.n else "width"
        section = "pretext" if key == "target_length" else "model"
        value = rng.choice(CLAIMS[key] + [rng.choice(evil)]) if rng.n else 256  # first: the 575 KB file
        obj["hyper_parameters"]["config"][section][key] = value
        return obj, f"hyper_parameters.config.{section}.{key} = {short(value)}"
    if kind == "shape":
        key = rng.choice(sorted(state))
        shape = tuple(rng.choice([0, 1, 2, 3, 8, 16, 64]) for _ in range(rng.randint(0, 5)))
        state[key] = torch.zeros(shape)
        return obj, f"{key} shape {shape}"
    if kind == "dtype":
        key = rng.choice(sorted(state))
        dtype = rng.choice([torch.int64, torch.bool, torch.uint8, torch.float16, torch.complex64, torch.float64])
        state[key] = state[key].to(dtype)
        return obj, f"{key} dtype {dtype}"
    if kind in ("drop", "extra"):
        key = rng.choice(sorted(state))
        if kind == "drop":
            del state[key]
        else:
            state[key + rng.choice(["x", ".extra", ""]) + "_"] = torch.zeros(3)
        return obj, f"{kind} {key}"
    if kind == "config":
        where = rng.choice(leaves(obj["hyper_parameters"]))
        value = rng.choice(evil)
        set_path(obj["hyper_parameters"], list(where), value)
        return obj, f"hyper_parameters.{'.'.join(map(str, where))} = {short(value)}"
    if kind == "structure":
        key = rng.choice(["hyper_parameters", "state_dict", "callbacks", "epoch", "global_step"])
        obj[key] = rng.choice(evil)
        return obj, f"{key} = {short(obj[key])}"
    if kind == "callback":
        cb = next(iter(obj["callbacks"].values()))
        field = rng.choice(CALLBACK_FIELDS)
        victim = victim_of(work)
        climb = str(work / "run" / "checkpoints") + "/../../../../victim/keep.ckpt"
        value = rng.choice(
            [
                str(victim),
                str(victim / "keep.ckpt"),
                climb,
                "/",
                str(work / "run"),
                str(work / "run" / "checkpoints"),
                rng.choice(evil),
            ]
        )
        if field.endswith(("score", "value")):
            value = rng.choice(evil + [torch.tensor([1.0, 2.0]), torch.tensor(math.nan), torch.tensor(3)])
        elif field == "best_k_models" and rng.random() < 0.5:
            value = {
                rng.choice([str(victim / "keep.ckpt"), climb, str(path_in(work, "epoch0001.ckpt"))]): rng.choice(
                    evil + [torch.tensor(1.0)]
                )
            }
        cb[field] = value
        return obj, f"callback {field} = {short(value)}"
    if kind == "stats":
        obj["hyper_parameters"]["input_stats"] = rng.choice(evil)
        return obj, f"input_stats = {short(obj['hyper_parameters']['input_stats'])}"
    return None, "bytes"


def checkpoint_entries(path: Path, cfg, work: Path) -> dict:
    ckdir = path.parent

    def callbacks():
        obj = read_checkpoint(path)
        states = obj.get("callbacks")
        for state in states.values() if isinstance(states, dict) else []:
            cb = RunCheckpoint(dirpath=ckdir, save_top_k=1, monitor="epoch", mode="max")
            cb.load_state_dict(state)
            io = AtomicCheckpointIO(root=ckdir)  # what Lightning removes on its next save
            for p in [cb.best_model_path, cb.last_model_path, cb.kth_best_model_path, *cb.best_k_models]:
                if p:
                    io.remove_checkpoint(p)

    return {
        "initial_encoder --init": lambda: initial_encoder(cfg, init=str(path)),
        "initial_encoder --inflate": lambda: initial_encoder(cfg, inflate=str(path)),
        "load_skipclip": lambda: load_skipclip(path),
        "export_encoders": lambda: export_encoders(path, work / "export", frame=True, force=True),
        "resume_path": lambda: resume_path(work / "run", True),
        "callbacks": callbacks,
    }


def fuzz_checkpoint(tiny: Path, work: Path, rng: random.Random, cfg) -> tuple[str, dict]:
    base = torch.load(tiny / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    path = work / "run" / "checkpoints" / "last.ckpt"
    path.parent.mkdir(parents=True)
    for state in base["callbacks"].values():  # the run's own folder is now this copy's
        moved = json.loads(
            json.dumps({k: v for k, v in state.items() if isinstance(v, str)}).replace(
                str(tiny / "run"), str(work / "run")
            )
        )
        state.update(moved)
        state["best_k_models"] = {str(path.parent / Path(k).name): v for k, v in state["best_k_models"].items()}
    for name in ("epoch0000.ckpt", "epoch0001.ckpt"):  # files the restored state names, inside the run
        (path.parent / name).write_bytes(b"old")
    obj, what = mutate_checkpoint(base, rng, work)
    if obj is None:
        shutil.copy(tiny / "run" / "checkpoints" / "last.ckpt", path)
        what = flip_bytes(path, rng) if rng.random() < 0.6 else cut_or_extend(path, rng)
    else:
        torch.save(obj, path)
    return what, checkpoint_entries(path, cfg, work)


# --------------------------------------------------------------------------------- safetensors


def read_header(path: Path) -> tuple[dict, bytes]:
    data = path.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8 : 8 + n]), data[8 + n :]


def write_header(path: Path, header: dict, payload: bytes, length: int | None = None) -> None:
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text) if length is None else length) + text + payload)


def mutate_safetensors(path: Path, rng: random.Random, work: Path) -> str:
    header, payload = read_header(path)
    meta = header.setdefault("__metadata__", {})
    kind = kind_of(rng, ["claim", "metadata", "shape", "config", "offsets", "dtype", "length", "bytes", "claim"])
    evil = evil_values(rng, work)
    if kind == "claim":
        key = rng.choice(["width", "in_channels", "arch"])
        value = rng.choice(CLAIMS["context_arch" if key == "arch" else key])
        meta[key] = json.dumps(value)
        write_header(path, header, payload)
        return f"metadata {key} = {short(value)}"
    if kind in ("metadata", "config"):
        key = (
            rng.choice(["format", "encoder", "arch", "width", "in_channels", "config"])
            if kind == "metadata"
            else "config"
        )
        value = rng.choice(evil)
        if kind == "config":
            config = json.loads(meta.get("config", "{}")) or {"model": {}}
            where = rng.choice(leaves(config) or [("model",)])
            set_path(config, list(where), value)
            meta["config"] = json.dumps(config, allow_nan=True)
            what = f"metadata config.{'.'.join(where)} = {short(value)}"
        else:
            meta[key] = json.dumps(value, allow_nan=True) if rng.random() < 0.8 else str(value)[:100]
            what = f"metadata {key} = {short(value)}"
        write_header(path, header, payload)
        return what
    names = [k for k in header if k != "__metadata__"]
    name = rng.choice(names)
    if kind == "shape":
        header[name]["shape"] = rng.choice([[10**9, 10**9], [-1], [2**62], [0], [], [3.5], "x", [1] * 40])
    elif kind == "dtype":
        header[name]["dtype"] = rng.choice(["F64", "I8", "BOOL", "C64", "x", 5, "F8_E4M3"])
    elif kind == "offsets":
        header[name]["data_offsets"] = rng.choice([[0, 2**62], [5, 1], [-1, 4], [0], "x", [0, len(payload) + 8]])
    elif kind == "length":
        write_header(path, header, payload, length=rng.choice([0, 1, 7, 2**40, 2**64 - 1, len(payload)]))
        return "header length"
    else:
        return flip_bytes(path, rng, within=rng.choice([64, 4096, None]))
    write_header(path, header, payload)
    return f"{name} {kind} = {short(header[name].get(kind if kind != 'offsets' else 'data_offsets'))}"


def fuzz_safetensors(tiny: Path, work: Path, rng: random.Random, cfg) -> tuple[str, dict]:
    name = rng.choice(["context_encoder.safetensors", "frame_encoder.safetensors"])
    path = work / name
    shutil.copy(tiny / "export" / name, path)
    what = f"{name}: {mutate_safetensors(path, rng, work)}"
    flag = "init" if name.startswith("context") else "inflate"
    return what, {
        "load_encoder": lambda: load_encoder(path),
        "read_checkpoint": lambda: read_checkpoint(path),
        f"initial_encoder --{flag}": lambda: initial_encoder(cfg, **{flag: str(path)}),
    }


# ------------------------------------------------------------------------------------ manifest


def mutate_manifest(store: Path, rng: random.Random, work: Path) -> str:
    manifest = json.loads((store / "manifest.json").read_text())
    evil = evil_values(rng, work)
    evil[0:0] = [
        "videos/../../victim/keep.frames",
        "../" * 8 + "etc/passwd",
        "/etc/passwd",
        "videos/x/../../..",
        "videos/cats/cats_0.avi.frames\x00",
        100_000_000,
        5_000_000,
        41,
        39,
    ]
    roll = [0.0, 0.7, 0.95][rng.n] if getattr(rng, "n", 3) < 3 else rng.random()
    if roll < 0.6:
        video = rng.choice(manifest["videos"])
        key = rng.choice(
            ["name", "file", "label", "group", "folds", "frames", "height", "width", "fps", "duration", "bytes", "vfr"]
        )
        if rng.random() < 0.15:
            video.pop(key, None)
            what = f"videos[].{key} removed"
        else:
            video[key] = (
                rng.choice(evil)
                if key != "folds"
                else rng.choice(evil + [{"1": "boss"}, {"x": "train"}, {"1": "test", "2": "val"}])
            )
            what = f"videos[].{key} = {short(video[key])}"
    elif roll < 0.9:
        key = rng.choice(
            [
                "classes",
                "videos",
                "short_side",
                "codec",
                "failed",
                "missing",
                "unlisted",
                "layout",
                "folds",
                "source",
                "split",
                "version",
            ]
        )
        manifest[key] = rng.choice(evil + [["cats"], [{"name": 1}], {"x": [1]}, [f"c{i}" for i in range(1_000_001)]])
        what = f"{key} = {short(manifest[key])}"
    else:
        manifest["videos"].append(copy.deepcopy(rng.choice(manifest["videos"])))
        what = "a video listed twice"
    (store / "manifest.json").write_text(json.dumps(manifest, allow_nan=True))
    return what


def store_entries(store: Path, rng: random.Random) -> dict:
    split = rng.choice(["all", "train", "val", "test", "trainval"])
    train = rng.random() < 0.5

    def read_clips():
        src = PreparedStore(store, split, val_fraction=0.34)
        if len(src) == 0:
            return
        ds = ClipDataset(src, clip_len=4, crop_size=32, short_side=32, train=train)
        for i in rng.sample(range(len(ds)), min(2, len(ds))):
            ds[i]

    return {f"store {split} clips": read_clips, "examine": lambda: examine(store)}


def fuzz_manifest(tiny: Path, work: Path, rng: random.Random, cfg) -> tuple[str, dict]:
    store = shutil.copytree(tiny / "store", work / "store")
    return mutate_manifest(store, rng, work), store_entries(store, rng)


# --------------------------------------------------------------------------------------- shard


def mutate_shard(path: Path, rng: random.Random, work: Path) -> str:
    from crafted import flat_jpeg, raw_shard

    data = path.read_bytes()
    size = struct.unpack("<I", data[12:16])[0]
    header = json.loads(data[16 : 16 + size])
    n = header["frames"]
    offsets = list(struct.unpack(f"<{n + 1}Q", data[16 + size : 16 + size + 8 * (n + 1)]))
    base = 16 + size + 8 * (n + 1)
    chunks = [data[base + offsets[i] : base + offsets[i + 1]] for i in range(n)]
    kind = kind_of(rng, ["sof", "field", "offset", "frame", "head bytes", "cut", "bytes"])
    if kind == "field":
        key = rng.choice(["frames", "height", "width", "codec"])
        header[key] = rng.choice(evil_values(rng, work) + [20000, 32768, n + 1, n - 1, "raw", 2**40])
        raw_shard(path, header, chunks)
        return f"header {key} = {short(header[key])}"
    if kind == "head bytes":
        return flip_bytes(path, rng, within=16 + size)
    if kind == "offset":
        i = rng.randrange(n + 1)
        value = rng.choice([0, 2**63, 2**64 - 1, offsets[-1] + 1, offsets[i] - 1 if offsets[i] else 1])
        table = offsets[:i] + [value] + offsets[i + 1 :]
        path.write_bytes(data[: 16 + size] + struct.pack(f"<{n + 1}Q", *table) + data[base:])
        return f"offset {i} = {value}"
    if kind in ("sof", "frame"):
        i = rng.randrange(n)
        dims = (
            rng.choice([(20000, 20000), (65535, 65535), (1, 1), (0, 0), (header["height"], header["width"] + 1)])
            if rng.n > 3
            else (20000, 20000)
        )  # first: the JPEG
        if kind == "sof":
            c = bytearray(chunks[i])
            at = c.find(b"\xff\xc0")
            if at >= 0:
                struct.pack_into(">HH", c, at + 5, *dims)
            chunks[i] = bytes(c)
        else:
            chunks[i] = flat_jpeg(*dims, truncate=rng.random() < 0.5)
        raw_shard(path, header, chunks)
        return f"frame {i} JPEG claims {dims[1]}x{dims[0]} ({kind})"
    if kind == "cut":
        return cut_or_extend(path, rng)
    return flip_bytes(path, rng)


def fuzz_shard(tiny: Path, work: Path, rng: random.Random, cfg) -> tuple[str, dict]:
    store = shutil.copytree(tiny / "store", work / "store")
    manifest = json.loads((store / "manifest.json").read_text())
    k = rng.randrange(len(manifest["videos"]))
    path = store / manifest["videos"][k]["file"]
    what = mutate_shard(path, rng, work)
    frames = [rng.randrange(40) for _ in range(rng.randint(1, 6))]

    def store_read():
        src = PreparedStore(store, "all")
        i = [src.name(j) for j in range(len(src))].index(manifest["videos"][k]["name"])
        src.read(i, range(min(4, src.num_frames(i))))

    return what, {
        "read_shard": lambda: read_shard(path, frames),
        "check_shard": lambda: check_shard(path),
        "store read": store_read,
    }


# --------------------------------------------------------------------------------------- lists

EVIL_LABELS = ["99999999", "20000000", "2000000000", "-1", "\u00b2", "1e9", "\u0663", "0x1", "", "9" * 5000, "01"]
EVIL_PATHS = [
    "../../victim/x.avi",
    "/etc/x.avi",
    "a\x00b.avi",
    "C:/x.avi",
    "x" * 5000 + ".avi",
    "train/../../x.avi",
    "./v0.avi",
    "v0.avi",
    "sub dir/v0.avi",
    "\udce9t\u00e9.avi",
    "..",
    ".avi",
    "v0.txt",
]


def mutate_lists(root: Path, rng: random.Random) -> str:
    lists = sorted(root.glob("*.txt"))
    f = rng.choice(lists)
    lines = f.read_text(encoding="utf-8", errors="surrogateescape").splitlines()
    kind = kind_of(rng, ["label", "path", "map", "duplicate", "bytes", "empty"])
    if kind == "map":
        f = root / "label_map.txt"
        names = f.read_text().splitlines()
        names = rng.choice(
            [
                names + names[:1],
                [],
                names[:1],
                names + ["x"] * 3000,
                ["\udce9"] + names,
                [f"class {i}" for i in range(100_001)],
            ]
        )  # issue 27: one over MAX_CLASSES
        f.write_text("\n".join(names) + "\n", encoding="utf-8", errors="surrogateescape")
        return f"label map: {len(names)} lines"
    if kind == "bytes":
        return f"{f.name}: {flip_bytes(f, rng)}"
    if kind == "empty" or not lines:
        f.write_text("")
        return f"{f.name} emptied"
    i = rng.randrange(len(lines))
    path, _, label = lines[i].rpartition(" ")
    if kind == "label":
        lines[i] = f"{path} {rng.choice(EVIL_LABELS)}"
    elif kind == "path":
        lines[i] = f"{rng.choice(EVIL_PATHS)} {label}"
    else:
        lines.append(lines[i] if rng.random() < 0.5 else f"{path} {int(label) + 1 if label.isdigit() else 0}")
    f.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
    return f"{f.name} line {i + 1}: {kind} -> {lines[i][:60]!r}"


def fuzz_lists(tiny: Path, work: Path, rng: random.Random, cfg) -> tuple[str, dict]:
    root = shutil.copytree(tiny / "lists", work / "lists")
    what = mutate_lists(root, rng)

    def read_clip():
        src = open_split(root, rng.choice(["train", "test", "all"]), cfg=cfg, short_side=32)
        if len(src):
            ClipDataset(src, clip_len=4, crop_size=32, short_side=32, train=False)[0]

    return what, {"load_index": lambda: load_index(root), "examine": lambda: examine(root), "open_split": read_clip}


# ---------------------------------------------------------------------------------------- yaml

EVIL_YAML = [
    "&a [*a]",
    "*undefined",
    "!!python/object/apply:os.system ['touch pwned']",
    "[" * 1200,
    "{" * 1200,
    "1e999",
    ".nan",
    "-.inf",
    "0x1F",
    "9" * 5000,
    "~",
    "{a: 1}",
    "[1, 2]",
    "x" * 3000,
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "2001-12-14",
    "yes",
    "'56'",
    "-7",
    "0",
    "3.5",
    "\t1",
    "|\n  text",
    "!!float x",
    "@x",
    "&x 5",
    "[&y 1, *y]",
    '"\\ud800"',
    "!!str [1]",
    "?",
    "!!int x",
    "!!timestamp x",
    "!!bool x",
    "!!null x",
    "!!omap [1]",
    "!!pairs x",
]


def mutate_yaml(text: str, rng: random.Random) -> bytes:
    lines = text.splitlines()
    kind = kind_of(rng, ["value", "merge", "value", "bytes", "unknown", "duplicate", "drop", "value", "base", "base"])
    values = [i for i, line in enumerate(lines) if line.startswith("  ")]
    i = rng.choice(values)
    key = lines[i].split(":")[0]
    if kind == "value":
        lines[i] = f"{key}: {rng.choice(EVIL_YAML)}"
    elif kind == "drop":
        del lines[rng.randrange(len(lines))]
    elif kind == "unknown":
        lines.insert(i, f"  {rng.choice(['nope', '__class__', 'x' * 300])}: 1")
    elif kind == "duplicate":
        lines.insert(i, lines[i])
    elif kind == "merge":
        lines[i] = f"{key}: &m {{a: 1}}"
        lines.insert(i + 1, "  <<: *m")
    elif kind == "base":  # issue 27: a base: chain, or a base: naming a device, a FIFO, a secret...
        lines = with_base(lines, rng)
    data = ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    if kind == "bytes":
        data = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = bytes(data)
    return data


def fuzz_yaml(tiny: Path, work: Path, rng: random.Random, cfg) -> tuple[str, dict]:
    from skipclip.config import load_config, parse_sets

    text = (tiny / "tiny.yaml").read_text()
    data = mutate_yaml(text, rng)
    base_files(work, tiny)
    path = work / "config.yaml"
    path.write_bytes(data)
    run = work / "run"
    run.mkdir()
    (run / "config.yaml").write_bytes(data)
    section = rng.choice(["data", "trainer", "model", "finetune", "optim", "pretext"])
    key = rng.choice(["layout", "group_pattern", "devices", "width", "clip_frames", "max_steps", "lr", "num_targets"])
    item = f"{section}.{key}={rng.choice(EVIL_YAML)}"
    what = f"{len(data)} bytes; --set {item[:60]!r}"
    return what, {
        "load_config": lambda: load_config(path),
        "--set": lambda: load_config("cpu", sets=parse_sets([item])),
        "resumed config.yaml": lambda: check_run_dir(run, cfg, resume=True, force=False, kind="pretrain"),
    }


# ---------------------------------------------------------------------------------------- main


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxdict, _REPR.maxstring, _REPR.maxother = 3, 4, 4, 50, 50


def short(value) -> str:
    """A short text of any value (a list of 9**9 shared references, or one holding itself, too)."""
    try:
        text = _REPR.repr(value)
    except ValueError:  # an integer over 4300 digits
        text = f"<int of {value.bit_length()} bits>" if isinstance(value, int) else "<unprintable>"
    return text if len(text) <= 60 else text[:57] + "..."


def victim_intact(victim: Path) -> bool:
    return (victim / "keep.ckpt").is_file() and (victim / "sub" / "keep.txt").read_text() == "mine"


def _status_mb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) // 1024
    return 0


def peak_reset() -> bool:
    """Reset the process's peak resident memory (Linux ``clear_refs``); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_entry(entry) -> tuple[str, str, int | None]:
    """``(kind, message, peak MB)``: how the entry ended and the resident memory it added at its peak."""
    before, tracked = _status_mb("VmRSS"), peak_reset()
    kind, message = _ended(entry)
    return kind, message, (_status_mb("VmHWM") - before) if tracked else None


def _ended(entry) -> tuple[str, str]:
    try:
        entry()
        return "ok", ""
    except SkipClipError as exc:
        return "refused", f"{type(exc).__name__}: {str(exc)[:300]}"
    except VideoReadError as exc:
        return "skipped", str(exc)[:300]
    except BaseException as exc:  # noqa: BLE001 - any other end is what the fuzzer looks for
        return "crash", "".join(traceback.format_exception(exc))[-2500:]


def main(tiny: str, seed: int, iterations: int, families: list[str]) -> None:
    """Run ``iterations`` mutations of each family, printing one ``FUZZ`` line per entry."""
    from skipclip.config import load_config

    tiny = Path(tiny)
    cfg = load_config(tiny / "tiny.yaml")
    victim = tiny.parent / "victim"
    assert victim == victim_of(tiny.parent / "work" / "x")
    from fuzz_run_targets import fuzz_resume_state, fuzz_run_folder  # they build on this module's helpers

    fuzzers = {
        "checkpoint": fuzz_checkpoint,
        "safetensors": fuzz_safetensors,
        "manifest": fuzz_manifest,
        "shard": fuzz_shard,
        "lists": fuzz_lists,
        "yaml": fuzz_yaml,
        "resume state": fuzz_resume_state,
        "run folder": fuzz_run_folder,
        "special": fuzz_special,
    }
    for n in range(iterations):
        for family in families:
            rng = random.Random(f"{seed}-{family}-{n}")
            rng.n = n  # mutation n: the kinds are tried in turn first (kind_of)
            work = tiny.parent / "work" / f"{family}-{n}"
            work.mkdir(parents=True)
            print("START " + json.dumps([family, n]), flush=True)
            what, entries = fuzzers[family](tiny, work, rng, cfg)
            for name, entry in entries.items():
                start = time.perf_counter()
                faulthandler.dump_traceback_later(ENTRY_SECONDS, exit=True)  # a hang ends the child, named
                kind, message, peak = run_entry(entry)
                faulthandler.cancel_dump_traceback_later()
                record = {
                    "family": family,
                    "n": n,
                    "seed": seed,
                    "mutation": what,
                    "entry": name,
                    "kind": kind,
                    "message": message,
                    "seconds": round(time.perf_counter() - start, 3),
                    "peak_mb": peak,
                    "victim_intact": victim_intact(victim),
                }
                print("FUZZ " + json.dumps(record), flush=True)
            shutil.rmtree(work, ignore_errors=True)
    print("DONE", flush=True)
