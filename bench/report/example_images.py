"""The dataset's own images behind a section's stored items: opened again from the dataset's
files through the items' origins (``datasets.image_at``, under the folder the run read, else where
the dataset is found now), for the examples PNG's tiles and the site's thumbnails. No model runs.

A thumbnail is a small JPEG named by a digest of its dataset, folder and origin, so an image
shown in several rows, queries or sections is written once."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

from PIL import Image

from ..rankings import RankedItems

THUMB_PX = 80  # the longer side of a site thumbnail
THUMBS = "thumbs"  # the site's folder of thumbnails


class Unreadable(Exception):
    """An image of the dataset cannot be read here: its files are not present, or one is damaged."""


class ItemImages:
    """Query i's and database item j's images of one items file, each opened once."""

    def __init__(self, items: RankedItems):
        self.items = items
        self.dataset = str(items.meta.get("dataset", ""))
        self.folder = str(items.meta.get("folder") or "")
        self._opened: dict[str, Image.Image] = {}

    def open(self, origin: str) -> Image.Image:
        """The image at ``origin`` as RGB; raises ``Unreadable`` where it cannot be read."""
        # imported here: a report without examples to draw never loads the datasets (nor torch)
        from datasets import DatasetError, image_at

        if origin not in self._opened:
            root = self.folder if self.folder and Path(self.folder).is_dir() else None
            try:
                self._opened[origin] = image_at(self.dataset, origin, root).convert("RGB")
            except (DatasetError, OSError, KeyError, ValueError) as e:
                raise Unreadable(str(e)) from None
        return self._opened[origin]

    def query(self, i: int) -> Image.Image:
        return self.open(self.items.query_origins[i])

    def database(self, j: int) -> Image.Image:
        return self.open(self.items.database_origins[j])

    def thumb_name(self, origin: str) -> str:
        """The site-relative path of ``origin``'s thumbnail."""
        key = hashlib.sha1(f"{self.dataset}\n{self.folder}\n{origin}".encode()).hexdigest()[:16]
        return f"{THUMBS}/{self.dataset}/{key}.jpg"


def fitted(image: Image.Image, px: int) -> Image.Image:
    """``image`` scaled so that its longer side is ``px`` (up or down), the aspect kept."""
    scale = px / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def thumbnail(image: Image.Image, px: int = THUMB_PX) -> bytes:
    """A small JPEG of ``image`` (the same bytes for the same image)."""
    out = io.BytesIO()
    fitted(image, px).save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()
