"""The start of every frozen-feature protocol's row of a report (linear probe, retrieval, kNN)."""

from __future__ import annotations

import dataclasses

from skipclip.utils.records import record


@dataclasses.dataclass(frozen=True, kw_only=True)
class ProtocolRow:
    """What every frozen-feature protocol's row of a report starts with: ``init`` (where g
    started; ``None`` until the caller that knows says, with ``dataclasses.replace``) and the
    ``protocol`` name, which each subclass fixes with a default; serialised by :func:`record`,
    ``init`` left out while unknown."""

    init: str | None = None
    protocol: str = dataclasses.field(default="", init=False)

    def to_dict(self) -> dict:
        return record(self, omit_none=("init",))


__all__ = ["ProtocolRow"]
