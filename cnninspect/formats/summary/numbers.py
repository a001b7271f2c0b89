"""Numbers as people read them: ``432.1 k`` mult-adds, ``1.5 KiB`` of memory."""

from __future__ import annotations


def short_number(count: int) -> str:
    """432,138 → ``432.1 k``; 1,816,558,056 → ``1.82 G``."""
    for size, unit, digits in ((1e9, "G", 2), (1e6, "M", 2), (1e3, "k", 1)):
        if count >= size:
            return f"{count / size:,.{digits}f} {unit}"
    return str(count)


def human_bytes(count: int) -> str:
    """1,536 → ``1.5 KiB``."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")
