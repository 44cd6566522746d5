"""read_regular's bound costs nothing until bytes arrive: a 2 kB file read under a 1 TiB bound
allocates 2 kB (``fh.read(bound + 1)`` reserved the whole bound first, so the store manifest's
1 GiB bound failed memory-capped runs at random)."""

from __future__ import annotations

import pytest

from skipclip.utils.safe_read import read_regular


def test_a_huge_bound_reads_a_small_file_without_reserving_the_bound(tmp_path):
    path = tmp_path / "manifest.json"
    path.write_bytes(b"x" * 2048)
    assert read_regular(path, "store manifest", 1 << 40) == b"x" * 2048


def test_the_bound_still_refuses_a_larger_file(tmp_path):
    from skipclip.utils.safe_read import FileTooLargeError

    path = tmp_path / "big.json"
    path.write_bytes(b"x" * 5000)
    with pytest.raises(FileTooLargeError, match="5000 bytes"):
        read_regular(path, "store manifest", 4096)
    assert read_regular(path, "store manifest", 5000) == b"x" * 5000
