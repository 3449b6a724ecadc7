"""Generated benign images for tests, demos and benchmarks: noise, gradients, shapes, text cards.

Nothing here depicts people; every image is drawn from a seed.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

__all__ = ["generated_image", "write_generated_images"]

_KINDS = ("gradient", "shapes", "noise", "card")


def generated_image(
    seed: int, size: tuple[int, int] = (1024, 768), kind: str | None = None
) -> Image:
    """A PIL image drawn from ``seed``: a gradient, shapes, smooth noise or a text card."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(seed)
    kind = kind or _KINDS[seed % len(_KINDS)]
    width, height = size
    if kind == "gradient":
        x = np.linspace(0, 1, width)[None, :, None]
        y = np.linspace(0, 1, height)[:, None, None]
        a = np.array([rng.random() for _ in range(3)])[None, None, :]
        b = np.array([rng.random() for _ in range(3)])[None, None, :]
        phase = rng.random() * 6.28
        wave = 0.5 + 0.5 * np.sin(phase + 7 * x * rng.random() + 5 * y * rng.random())
        arr = (255 * (a * x + b * y * wave) / 2).clip(0, 255).astype("uint8")
        img = Image.fromarray(np.broadcast_to(arr, (height, width, 3)).copy())
    elif kind == "noise":
        gen = np.random.default_rng(seed)
        small = gen.integers(0, 256, size=(height // 32 + 1, width // 32 + 1, 3), dtype="uint8")
        img = Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC)
        img = img.filter(ImageFilter.GaussianBlur(2))
    else:
        background = tuple(rng.randrange(256) for _ in range(3))
        img = Image.new("RGB", (width, height), background)
        draw = ImageDraw.Draw(img)
        for _ in range(rng.randrange(4, 12)):
            x0, y0 = rng.randrange(width), rng.randrange(height)
            x1, y1 = x0 + rng.randrange(20, width // 2), y0 + rng.randrange(20, height // 2)
            colour = tuple(rng.randrange(256) for _ in range(3))
            shape = rng.choice(("rectangle", "ellipse", "line"))
            if shape == "rectangle":
                draw.rectangle((x0, y0, x1, y1), fill=colour)
            elif shape == "ellipse":
                draw.ellipse((x0, y0, x1, y1), fill=colour)
            else:
                draw.line((x0, y0, x1, y1), fill=colour, width=rng.randrange(2, 20))
        if kind == "card":
            for row in range(rng.randrange(3, 8)):
                text = f"tipwatch test card {seed}-{row}"
                draw.text((40, 40 + row * 60), text, fill=(255 - background[0], 0, 0))
    return img


def write_generated_images(
    folder: Path,
    count: int,
    *,
    size: tuple[int, int] = (1024, 768),
    fmt: str = "JPEG",
    quality: int = 90,
    start: int = 0,
) -> list[Path]:
    """Write ``count`` generated images into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}.get(fmt, ".img")
    paths = []
    for i in range(start, start + count):
        path = folder / f"generated_{i:06d}{suffix}"
        img = generated_image(i, size)
        if fmt == "JPEG":
            img.save(path, fmt, quality=quality)
        else:
            img.save(path, fmt)
        paths.append(path)
    return paths
