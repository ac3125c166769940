"""Where uploaded files live. Local disk by default; an object store implements the same three methods."""

import uuid
from pathlib import Path
from typing import Protocol

from kernel import clock


class MediaStorage(Protocol):
    def save(self, data: bytes, extension: str) -> str: ...
    def path(self, key: str) -> Path: ...
    def delete(self, key: str) -> None: ...


class LocalDiskStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def save(self, data: bytes, extension: str) -> str:
        today = clock.now()
        key = f"{today:%Y/%m}/{uuid.uuid4().hex}.{extension}"
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".part")
        temporary.write_bytes(data)
        temporary.replace(target)  # readers never see half a file
        return key

    def path(self, key: str) -> Path:
        resolved = (self.root / key).resolve()
        if self.root not in resolved.parents:
            raise ValueError("storage key escapes the media root")
        return resolved

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
