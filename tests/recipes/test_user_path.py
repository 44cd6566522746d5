"""The done-when test of the user path: from a folder of clips (the KTH clips in ../shared) to a
pretrained encoder, a fine-tuning report and a features file with the commands the README shows
(each next command as the previous one printed it), then the encoder in a few lines of Python
through the public API, giving the features the command wrote."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest

from helpers import child_env
from video_factory import REAL_CLIPS

KTH = REAL_CLIPS / "kth"
PATTERN = r"person\d+_([a-z]+)_"
TINY = {
    "pretrain": ["--set", "optim.max_steps=6", "optim.val_every_steps=3"],
    "finetune": ["--set", "finetune.max_steps=4"],
}
PYTHON = """\
import numpy as np
import skipclip
saved = np.load(run / "features.npz")
encoder = skipclip.load_encoder(run)
for name, row in zip(saved["names"], saved["features"]):
    np.testing.assert_array_equal(skipclip.features(encoder, KTH / name).numpy(), row)  # to the bit
"""

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not KTH.is_dir(), reason=f"real KTH clips not found at {KTH} (../shared is absent)"),
]


def skipclip(argv: list[str], cwd) -> str:
    """Run ``skipclip ARGV`` as a user would (``python -m skipclip``); its stdout."""
    assert argv[0] == "skipclip", argv
    done = subprocess.run(
        [sys.executable, "-m", "skipclip", *argv[1:]],
        cwd=cwd,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{shlex.join(argv)}\n{done.stdout}\n{done.stderr}"
    assert "\r" not in done.stdout + done.stderr and "GPU available" not in done.stderr
    return done.stdout


def suggested(stdout: str, command: str) -> list[str]:
    """The ``next:`` / ``or:`` line of ``stdout`` that runs ``skipclip COMMAND``, as argv."""
    for line in stdout.splitlines():
        if line.startswith(("next: ", "  or: ")) and line.split(":", 1)[1].split()[:2] == ["skipclip", command]:
            return shlex.split(line.split(":", 1)[1])
    raise AssertionError(f"no `skipclip {command}` suggested in:\n{stdout}")


def test_from_a_folder_of_clips_to_features_in_python(tmp_path):
    doctor = skipclip(["skipclip", "doctor", "--data", str(KTH), "--label-pattern", PATTERN], tmp_path)
    assert "boxing" in doctor and "jogging" in doctor
    pretrain = suggested(doctor, "pretrain")  # skipclip pretrain --config cpu-real --data KTH --label-pattern ...
    printed = skipclip(pretrain + TINY["pretrain"], tmp_path)
    run = tmp_path / pretrain[pretrain.index("--out") + 1]
    assert (run / "checkpoints" / "last.ckpt").is_file()

    finetune = suggested(printed, "finetune")
    tuned = skipclip(finetune + TINY["finetune"], tmp_path)
    report = json.loads((tmp_path / finetune[finetune.index("--out") + 1] / "report.json").read_text())
    assert report["data"]["classes"] == ["boxing", "handclapping", "jogging"] and 0 <= report["results"][0]["top1"] <= 1
    assert "next: skipclip evaluate" in tuned

    features = suggested(printed, "features")
    assert features[features.index("--out") + 1] == str(run.relative_to(tmp_path) / "features.npz")
    skipclip(features, tmp_path)

    assert len(PYTHON.splitlines()) <= 10
    exec(PYTHON, {"run": run, "KTH": KTH})  # the Python a user writes: load the encoder, same features
