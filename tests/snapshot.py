"""What a folder holds, to check that a test left it exactly as it was."""

from __future__ import annotations

from pathlib import Path


def snapshot(root: Path) -> dict[str, int]:
    """Every file and folder below ``root`` with its size (-1 for a folder)."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size if p.is_file() else -1)
        for p in root.rglob("*")
    }
