"""``Rows``: simulated transactions as parallel integer-coded numpy arrays.

Everything is kept as codes (account and device numbers, catalogue indices) until the very end,
where ``generate`` turns the codes into the strings of the canonical table in one vectorised pass.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

__all__ = ["BOOL", "F64", "I64", "NONE", "Rows", "concat", "cumsum_within", "expand"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

NONE = -1  # the code of a missing value (device, category, entry mode, scenario, case)


@dataclass(slots=True)
class Rows:
    """Columns of simulated transactions; every array has the same length."""

    ts: I64  # microseconds since the epoch, UTC
    amount: F64  # in EUR; converted to the payer's currency and rounded at the end
    payer: I64  # person account number
    payee: I64  # merchant number if payee_is_merchant else person account number
    payee_is_merchant: BOOL
    device: I64
    channel: I64
    category: I64
    payer_country: I64
    payee_country: I64
    currency: I64  # index into the configured currencies
    entry_mode: I64
    account_age_days: F64
    scenario: I64
    case: I64  # fraud rows of one case are labelled together

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: I64 | BOOL) -> Rows:
        """The rows at ``index`` (integer positions or a mask)."""
        return Rows(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def concat(parts: list[Rows]) -> Rows:
    """All rows of ``parts``, in order."""
    return Rows(
        **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Rows)}
    )


def expand(sizes: I64) -> tuple[I64, I64]:
    """For episodes of ``sizes`` rows: each row's episode index and its position in the episode."""
    episode = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
    starts = np.cumsum(sizes) - sizes
    position = np.arange(len(episode), dtype=np.int64) - starts[episode]
    return episode, position


def cumsum_within(values: F64, position: I64, episode: I64) -> F64:
    """Running sums of ``values`` restarting at each episode (rows grouped by episode, in order)."""
    total = np.cumsum(values)
    before = (total - values)[position == 0]
    result: F64 = total - before[episode]
    return result
