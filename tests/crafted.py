"""Crafted inputs and a memory-capped child process, for the tests of files from others.

``run_capped(cases)`` runs each case's code in one child Python whose address space is capped at
what its imports take plus ``budget`` bytes (``RLIMIT_AS``; torch alone maps ~3.6 GB of address
space, most of it never touched, so the cap sits on top of that), and reports how each case ended:
``ok``, a :class:`~skipclip.errors.SkipClipError` (its class and message), a skipped video
(``VideoReadError``), or ``crash <Type>`` with the traceback (a ``MemoryError`` included). An
allocation the bounds should prevent thus fails one case, never the machine.

``flat_jpeg`` writes a valid JPEG of any size in a few bytes per 8x8 block (one-symbol Huffman
tables: every block is flat grey), and ``mjpeg_avi`` muxes such frames into an AVI without
encoding anything, so a 10000 x 10000 video costs 3.5 MB and milliseconds to make.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from helpers import child_env

PRELUDE = """
import resource
import numpy, torch, torchvision, av  # the baseline the budget comes on top of
import skipclip.config, skipclip.data, skipclip.weights.export, skipclip.weights.initialise
from skipclip.data import VideoReadError
from skipclip.errors import SkipClipError

def _vm_size():
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024

_cap = _vm_size() + {budget}
resource.setrlimit(resource.RLIMIT_AS, (_cap, _cap))
"""

RUNNER = """
import json as _json, sys as _sys, traceback as _tb
for _name, _code in {cases!r}.items():
    _ns = {{}}
    try:
        exec(compile(_code, _name, "exec"), _ns)
        _end = ["ok", ""]
    except SkipClipError as _exc:
        _end = [type(_exc).__name__, str(_exc)]
    except VideoReadError as _exc:
        _end = ["VideoReadError", str(_exc)]
    except BaseException as _exc:  # noqa: BLE001 - a traceback, MemoryError...: reported, the next case runs
        _end = ["crash " + type(_exc).__name__, "".join(_tb.format_exception(_exc))[-3000:]]
    print("OUTCOME " + _json.dumps([_name] + _end + [_ns.get("report")], default=str), flush=True)
"""


@dataclass
class Ended:
    """How one case ended in the child: ``kind`` (``ok``, an error class name, or ``crash <Type>``
    for anything that is not a :class:`SkipClipError` or a skipped video) and its message."""

    kind: str
    message: str
    report: object = None


def run_capped_script(body: str, budget: int = 1 << 30, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run Python ``body`` in a child capped at its imports plus ``budget`` bytes (``RLIMIT_AS``)."""
    script = PRELUDE.format(budget=budget) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script], env=child_env(), capture_output=True, text=True, timeout=timeout
    )


def run_capped(cases: dict[str, str] | str, budget: int = 1 << 30, timeout: float = 600) -> dict[str, Ended] | Ended:
    """Run each case's code, in order, in one child capped at its imports plus ``budget`` bytes;
    see the module doc. A case may set ``report`` to any JSON-able value to hand back. A single
    code string gives a single :class:`Ended`."""
    single = isinstance(cases, str)
    cases = {"case": cases} if single else cases
    proc = run_capped_script(RUNNER.format(cases={k: textwrap.dedent(v) for k, v in cases.items()}), budget, timeout)
    ended = {}
    for line in proc.stdout.splitlines():
        if line.startswith("OUTCOME "):
            name, kind, message, report = json.loads(line[len("OUTCOME ") :])
            ended[name] = Ended(kind, message, report)
    assert proc.returncode == 0 and len(ended) == len(cases), (
        f"the child ended with status {proc.returncode} after {list(ended)}:\n{proc.stderr[-3000:]}"
    )
    return ended["case"] if single else ended


def flat_jpeg(height: int, width: int, truncate: bool = False) -> bytes:
    """A baseline JPEG of 3 components (4:4:4) that decodes to flat grey; ``truncate`` leaves out
    the scan's data (the header still claims ``height`` x ``width``)."""

    def seg(marker: int, body: bytes) -> bytes:
        return b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body

    def huffman(table_class: int) -> bytes:  # one symbol (0: DC difference 0, AC end of block), code "0"
        return seg(0xC4, bytes([table_class << 4]) + bytes([1] + [0] * 15) + b"\x00")

    components = b"".join(bytes([i, 0x11, 0]) for i in (1, 2, 3))
    out = b"\xff\xd8" + seg(0xDB, b"\x00" + b"\x01" * 64)
    out += seg(0xC0, b"\x08" + struct.pack(">HH", height, width) + b"\x03" + components)
    out += huffman(0) + huffman(1) + seg(0xDA, b"\x03" + b"".join(bytes([i, 0]) for i in (1, 2, 3)) + b"\x00\x3f\x00")
    blocks = -(-height // 8) * -(-width // 8) * 3
    out += b"" if truncate else bytes(-(-blocks * 2 // 8))  # 2 zero bits a block
    return out + b"\xff\xd9"


def mjpeg_avi(path: Path, height: int, width: int, frames: int = 6) -> Path:
    """An MJPEG AVI of ``frames`` flat frames at ``height`` x ``width``, muxed without encoding."""
    import av

    data = flat_jpeg(height, width)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuvj444p"
        for i in range(frames):
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.time_base = stream, i, i, Fraction(1, 25)
            container.mux(packet)
    return path


def raw_shard(path: Path, header: dict, chunks: list[bytes]) -> Path:
    """A shard of the given header and frame payloads, byte for byte (no checks: crafted)."""
    import numpy as np

    from skipclip.data.store.shard import MAGIC, VERSION

    head = json.dumps(header).encode()
    offsets = np.zeros(len(chunks) + 1, dtype="<u8")
    offsets[1:] = np.cumsum([len(c) for c in chunks])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(MAGIC + struct.pack("<II", VERSION, len(head)) + head + offsets.tobytes() + b"".join(chunks))
    return path


def tiny_store(root: Path, out: Path) -> Path:
    """A prepared store of six 40-frame videos (2 classes, 32 px short side) made by ``prepare``."""
    from skipclip.data import prepare

    from video_factory import make_folder

    make_folder(root, per_class=3, frames=40)
    report = prepare(root, out, short_side=32, workers=0, progress=False)
    assert report.ok and report.videos == 6
    return out
