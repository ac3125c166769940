"""Image uploads: recognised by content, bounded in bytes and pixels, re-encoded without metadata, thumbnailed."""

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import ForeignKey, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from forum.members import User
from forum.storage import MediaStorage
from kernel import clock
from kernel.db import Model, UTCDateTime, db
from kernel.errors import TooLarge, UnsupportedMedia, ValidationFailed
from kernel.sql import get_or_404

# Pillow format → (mime type, file extension, save options). Anything else is refused.
FORMATS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "JPEG": ("image/jpeg", "jpg", {"quality": 85, "optimize": True}),
    "PNG": ("image/png", "png", {"optimize": True}),
    "WEBP": ("image/webp", "webp", {"quality": 85}),
    "GIF": ("image/gif", "gif", {}),
}
THUMBNAIL_EDGE = 320
MAX_GIF_FRAMES = 300


class Media(Model):
    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    mime: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    storage_key: Mapped[str] = mapped_column(String(200))
    thumb_key: Mapped[str] = mapped_column(String(200))
    thumb_mime: Mapped[str] = mapped_column(String(32))
    # WeChat's asynchronous image check: unchecked (no WeChat) | pending → pass | review | risky. Only unchecked
    # and passed images are shown.
    check_status: Mapped[str] = mapped_column(String(12), default="unchecked")
    check_trace_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    check_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_label: Mapped[int | None] = mapped_column(Integer)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def shown(self) -> bool:
        return self.check_status in ("unchecked", "pass")


@dataclass(frozen=True)
class ProcessedImage:
    data: bytes
    mime: str
    extension: str
    width: int
    height: int
    thumbnail: bytes
    thumb_mime: str


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Pillow warns (or raises) on huge images; we apply our own, stricter bound below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise TooLarge("the image has too many pixels", code="image_too_many_pixels") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise UnsupportedMedia("not a JPEG, PNG, WebP or GIF image", code="unsupported_image") from exc
    if image.format not in FORMATS:
        raise UnsupportedMedia("not a JPEG, PNG, WebP or GIF image", code="unsupported_image")
    width, height = image.size
    frames = getattr(image, "n_frames", 1)
    if width * height > max_pixels or width * height * min(frames, MAX_GIF_FRAMES) > max_pixels * 4:
        raise TooLarge(
            "the image has too many pixels",
            code="image_too_many_pixels",
            details={"width": width, "height": height, "max_pixels": max_pixels},
        )
    if frames > MAX_GIF_FRAMES:
        raise TooLarge("the animation has too many frames", code="image_too_many_frames")
    return image


def process_image(data: bytes, max_pixels: int) -> ProcessedImage:
    """Decode, auto-orient and re-encode so no EXIF/GPS or trailing payload survives."""
    image = _open(data, max_pixels)
    fmt = image.format or ""  # _open accepts only the formats in FORMATS
    mime, extension, options = FORMATS[fmt]
    try:
        out = io.BytesIO()
        if fmt == "GIF" and getattr(image, "n_frames", 1) > 1:
            frames = _frames(image)
            frames[0].save(
                out, "GIF", save_all=True, append_images=frames[1:], loop=0, duration=image.info.get("duration", 100)
            )
            first = frames[0]
        else:
            first = ImageOps.exif_transpose(image)
            first = _normalise_mode(first, fmt)
            first.save(out, fmt, **options)
        thumb = first.convert("RGB") if first.mode not in ("RGB", "L") else first.copy()
        thumb.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
        thumb_out = io.BytesIO()
        thumb.save(thumb_out, "JPEG", quality=80)
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or corrupt payloads surface only on decode
        raise ValidationFailed("the image could not be decoded", code="corrupt_image") from exc
    return ProcessedImage(
        data=out.getvalue(),
        mime=mime,
        extension=extension,
        width=first.width,
        height=first.height,
        thumbnail=thumb_out.getvalue(),
        thumb_mime="image/jpeg",
    )


def _frames(image: Image.Image) -> list[Image.Image]:
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frames.append(image.convert("RGBA"))
    return frames


def _normalise_mode(image: Image.Image, fmt: str) -> Image.Image:
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        return image.convert("RGB")
    if fmt == "GIF" and image.mode not in ("P", "L"):
        return image.convert("P")
    return image


def store_upload(owner: User, data: bytes, storage: MediaStorage, max_pixels: int) -> Media:
    processed = process_image(data, max_pixels)
    media = Media(
        owner_id=owner.id,
        mime=processed.mime,
        width=processed.width,
        height=processed.height,
        size_bytes=len(processed.data),
        sha256=hashlib.sha256(processed.data).hexdigest(),
        storage_key=storage.save(processed.data, processed.extension),
        thumb_key=storage.save(processed.thumbnail, "jpg"),
        thumb_mime=processed.thumb_mime,
        check_status="unchecked",
        created_at=clock.now(),
    )
    db.session.add(media)
    db.session.flush()
    return media


def get_media(media_id: int) -> Media:
    return get_or_404(Media, media_id, "media")


def owned_media(owner: User, media_ids: list[int]) -> list[Media]:
    """The listed images, in order, all belonging to `owner` (nobody attaches another member's upload)."""
    if not media_ids:
        return []
    found = {m.id: m for m in db.session.scalars(select(Media).where(Media.id.in_(media_ids)))}
    missing = [i for i in media_ids if i not in found or found[i].owner_id != owner.id]
    if missing:
        raise ValidationFailed("unknown images", code="invalid_images", details={"image_ids": missing})
    return [found[i] for i in media_ids]
