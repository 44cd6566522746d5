"""Issue 21 point 2: sizes read from files are bounded. Each crafted file below made skipclip
allocate gigabytes from a few hundred bytes (a width claim, a frame count, a label, a JPEG header, a
YAML alias, a video's frame size); each now ends in a clear error or a skipped, reported video,
checked in a child process capped at its imports plus 1 GB (``crafted.run_capped``).
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from crafted import flat_jpeg, mjpeg_avi, raw_shard, run_capped, tiny_store

from helpers import tiny_cfg, tiny_overrides
from video_factory import video

pytestmark = pytest.mark.e2e  # memory-capped child processes, ~30 s: CI's second step

OVERRIDES = tiny_overrides()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    base = tmp_path_factory.mktemp("store")
    return tiny_store(base / "videos", base / "store")


def skipclip_checkpoint(path, **model):
    """A Skip-Clip checkpoint of the tiny model (width 8) whose recorded config says ``model``."""
    from skipclip.method.build import build_skipclip

    cfg = tiny_cfg()
    config = cfg.to_dict()
    config["model"].update(model)
    state = {f"model.{k}": v for k, v in build_skipclip(cfg).state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {"config": config}}, path)
    return path


# ------------------------------------------------------------------------------- weight claims


def _export(tmp_path):
    from skipclip.weights.export import export_encoders

    tmp_path.mkdir(parents=True, exist_ok=True)
    ckpt = skipclip_checkpoint(tmp_path / "last.ckpt")
    export_encoders(ckpt, tmp_path / "export", frame=True)
    return tmp_path / "export"


def _retag(path, **meta):
    from safetensors.torch import load_file, safe_open, save_file

    with safe_open(str(path), framework="pt") as fh:
        old = fh.metadata()
    save_file(load_file(str(path)), str(path), metadata={**old, **{k: json.dumps(v) for k, v in meta.items()}})


SAFETENSORS_CLAIMS = [
    ("context_encoder.safetensors", {"width": 2048}),
    ("context_encoder.safetensors", {"width": 256}),
    ("frame_encoder.safetensors", {"in_channels": 10_000_000}),
    ("frame_encoder.safetensors", {"in_channels": 300}),
    ("frame_encoder.safetensors", {"width": 512}),
]


def test_claims_of_weight_files_are_bounded_and_compared_with_the_tensors_before_building(tmp_path):
    cases, files = {}, {}
    for width in (256, 2048):  # a checkpoint's hyper_parameters.config.model.width, on width-8 tensors
        ckpt = skipclip_checkpoint(tmp_path / f"claims{width}.ckpt", width=width)
        assert ckpt.stat().st_size < 4_000_000  # the width-8 model; width 256 would take gigabytes
        files[f"--init width {width}"] = ckpt
        cases[f"--init width {width}"] = f"""
            from skipclip.config import load_config
            from skipclip.weights.initialise import initial_encoder
            initial_encoder(load_config("cpu", {OVERRIDES!r}), init={str(ckpt)!r})
        """
    for n, (file, meta) in enumerate(SAFETENSORS_CLAIMS):  # an export's metadata
        path = _export(tmp_path / str(n)) / file
        _retag(path, **meta)
        files[f"{file} {meta}"] = path
        cases[f"{file} {meta}"] = f"""
            from skipclip.weights.exported import load_exported as load_encoder
            load_encoder({str(path)!r})
        """
    for name, ended in run_capped(cases).items():
        assert ended.kind == "InvalidInputError" and str(files[name]) in ended.message, (name, ended)


def test_honest_exports_still_load(tmp_path):
    from skipclip.weights.exported import load_exported as load_encoder

    folder = _export(tmp_path)
    assert load_encoder(folder / "context_encoder.safetensors").width == 8
    assert load_encoder(folder / "frame_encoder.safetensors").in_channels == 3


# ------------------------------------------------------------------------------ frame counts


def _tamper(store, **fields):
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["videos"][0].update(fields)
    (store / "manifest.json").write_text(json.dumps(manifest))
    return manifest["videos"][0]["name"]


def test_frame_counts_are_bounded_and_compared_with_the_shard(store, tmp_path):
    huge, wrong = shutil.copytree(store, tmp_path / "huge"), shutil.copytree(store, tmp_path / "wrong")
    _tamper(huge, frames=100_000_000)
    name = _tamper(wrong, frames=5_000_000)
    code = """
        from skipclip.data import ClipDataset
        from skipclip.data.store.prepared import PreparedStore
        ds = ClipDataset(PreparedStore({!r}, "all"), clip_len=4, crop_size=32, train=False)
        report = [len(ds), ds.failed]
    """
    ended = run_capped({"huge": code.format(str(huge)), "wrong": code.format(str(wrong))})
    assert ended["huge"].kind == "InvalidInputError"  # refused when the store opens
    assert "manifest.json" in ended["huge"].message and "videos[0].frames" in ended["huge"].message
    assert ended["wrong"].kind == "ok", ended["wrong"]  # the video is skipped and reported
    windows, failed = ended["wrong"].report
    assert windows == 5 * 10 and list(failed) == [name]  # the other five videos' 40 frames: 10 windows each
    assert "says 5000000 frames but the shard holds 40" in failed[name]


# ------------------------------------------------------------------------------------- labels


def _lists(tmp_path, label: str):
    root = tmp_path / "lists"
    for i in range(2):
        video(root / "train" / f"v{i}.avi", n=12)
    (root / "my_train_list.txt").write_text(f"v0.avi 0\nv1.avi {label}\n")
    return root


def test_a_label_without_a_label_map_is_bounded(tmp_path):
    cases = {}
    for label in ("20000000", "2000000000", "99999999999999999999"):
        root = _lists(tmp_path / label, label)
        for entry in ("load_index", "examine"):  # examine: `skipclip doctor`
            cases[f"{entry} {label}"] = f"""
                from pathlib import Path
                from skipclip.data import examine, load_index
                {entry}(Path({str(root)!r}))
            """
    for name, ended in run_capped(cases).items():
        assert ended.kind == "SplitError", (name, ended)
        assert "my_train_list.txt line 2" in ended.message and "unknown label" in ended.message


def test_labels_of_a_subset_stay_readable_without_a_label_map(tmp_path):
    from skipclip.data import load_index

    index = load_index(_lists(tmp_path, "399"))  # e.g. two clips of Kinetics-400
    assert len(index.classes) == 400 and sorted(e.label for e in index.entries) == [0, 399]


# -------------------------------------------------------------------------------------- shards


def test_a_jpeg_frame_is_measured_before_it_is_decoded(tmp_path):
    cases = {}
    for h, w in ((16, 16), (20000, 20000)):  # the shard header's size; every JPEG claims 20000 x 20000
        chunks = [flat_jpeg(20000, 20000, truncate=True) for _ in range(4)]
        shard = raw_shard(tmp_path / f"v{h}.frames", {"frames": 4, "height": h, "width": w, "codec": "jpeg"}, chunks)
        assert shard.stat().st_size < 2000
        cases[f"header {h}"] = f"""
            from pathlib import Path
            from skipclip.data.store.shard import read_shard
            read_shard(Path({str(shard)!r}), [0, 1, 2, 3])
        """
    ended = run_capped(cases)
    assert ended["header 16"].kind == "VideoReadError" and "JPEG of size 20000x20000" in ended["header 16"].message
    assert ended["header 20000"].kind == "VideoReadError" and "damaged shard header" in ended["header 20000"].message


def test_jpeg_size_reads_what_the_encoder_writes():
    from torchvision.io import encode_jpeg

    from skipclip.data.store.jpeg_frames import jpeg_size

    data = bytes(encode_jpeg(torch.zeros(3, 30, 50, dtype=torch.uint8)).numpy())
    assert jpeg_size(data) == (30, 50, 3)
    assert jpeg_size(flat_jpeg(7, 9)) == (7, 9, 3)
    assert jpeg_size(b"") is None and jpeg_size(data[:3]) is None and jpeg_size(b"\x00" + data) is None


# ------------------------------------------------------------------------------- YAML aliases


def billion_laughs(section: str, name: str, levels: int = 9) -> str:
    """``section.name``: a list whose item i is nine references to item i - 1 (9**9 leaves once expanded)."""
    items = "".join(f"    - &b{i} [{', '.join([f'*b{i - 1}'] * 9) if i else 'x'}]\n" for i in range(levels))
    return f"{section}:\n  {name}:\n{items}"


def test_a_yaml_alias_bomb_is_refused(tmp_path):
    cases = {}
    for key in ("data.layout", "data.group_pattern", "trainer.devices"):
        section, name = key.split(".")
        for shape in ("recursive", "billion laughs"):
            path = tmp_path / f"{key} {shape}.yaml"
            path.write_text(
                f"{section}:\n  {name}: &top [*top]\n" if shape == "recursive" else billion_laughs(section, name)
            )
            assert path.stat().st_size < 800
            cases[f"{key} {shape}"] = f"""
                from skipclip.config import load_config
                load_config({str(path)!r}).to_dict()
            """
    cases["--set"] = """
        from skipclip.cli import main
        report = main(["config", "--set", "data.layout=&a [*a]"])
    """
    ended = run_capped(cases)
    assert ended.pop("--set").report == 2  # the CLI's exit status
    for name, e in ended.items():
        assert e.kind == "InvalidInputError" and "anchors and aliases" in e.message, (name, e)


def test_a_resumed_run_reads_its_config_without_aliases(tmp_path):
    from skipclip.engine.runs import check_run_dir
    from skipclip.errors import InvalidInputError

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("data:\n  layout: &a [*a]\n")
    with pytest.raises(InvalidInputError, match="anchors and aliases"):
        check_run_dir(out, tiny_cfg(), resume=True, force=False, kind="pretrain")


@pytest.mark.parametrize(
    "key, value, wanted",
    [
        ("data.layout", ["lists"], "data.layout must be a string or null"),
        ("data.group_pattern", ["g"], "data.group_pattern must be a string or null"),
        ("trainer.devices", [[0]], "trainer.devices must be"),
        ("data.layout", "nonsense", "data.layout must be null (detect it) or one of"),
        ("finetune.clip_frames", [16], "finetune.clip_frames must be an integer or null, got a list of 1 items"),
        ("optim.max_steps", True, "optim.max_steps must not be a boolean"),
    ],
)
def test_a_value_of_another_kind_names_the_key(key, value, wanted):
    from skipclip.config import load_config
    from skipclip.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=wanted.replace("(", r"\(").replace(")", r"\)")):
        load_config("cpu", sets={key: value})


# ---------------------------------------------------------------------------- source videos


def test_a_huge_video_read_on_the_fly_is_skipped_and_reported(tmp_path):
    data = tmp_path / "videos"
    for i in range(3):
        video(data / "cats" / f"c{i}.avi", n=12, h=40, w=56)
        video(data / "dogs" / f"d{i}.avi", n=12, h=40, w=56)
    mjpeg_avi(data / "dogs" / "huge.avi", 10000, 10000)
    ended = run_capped(f"""
        from skipclip.config import load_config
        from skipclip.data import ClipDataset, open_data
        cfg = load_config("cpu", {OVERRIDES!r})
        splits = open_data({str(data)!r}, cfg, need_test=True, val_fraction=0)
        failed, shapes = {{}}, set()
        for src in (splits.train, splits.test):
            ds = ClipDataset(src, clip_len=4, crop_size=32, short_side=32, train=False)
            shapes |= {{tuple(src.read(i, [0]).shape) for i in range(len(src)) if src.name(i) not in ds.failed}}
            shapes |= {{tuple(ds[i]["clip"].shape) for i in range(len(ds))}}
            failed.update(ds.failed)
        report = [failed, sorted(shapes)]
    """)
    assert ended.kind == "ok", ended
    failed, shapes = ended.report
    assert list(failed) == ["dogs/huge.avi"] and "10000x10000 are larger than skipclip reads" in failed["dogs/huge.avi"]
    assert [1, 32, 45, 3] in shapes  # decoded at the run's short side (40x56 -> 32x45), not the source size
