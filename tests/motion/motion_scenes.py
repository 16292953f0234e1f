"""Synthetic grayscale scenes for the motion tests: a textured background with
sensor noise, objects drawn at known times."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT = 320, 180
FPS = 5.0

Gray = npt.NDArray[np.uint8]


def background(seed: int = 1) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    texture = rng.uniform(40, 200, (HEIGHT // 10, WIDTH // 10)).astype(np.float32)
    resized = cv2.resize(texture, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
    return resized.astype(np.float32)


def frame(base: npt.NDArray[np.float32], rng: np.random.Generator, gain: float = 1.0,
          offset: float = 0.0, square: tuple[int, int] | None = None, size: int = 30,
          noise: float = 4.0) -> Gray:
    image = base * gain + offset + rng.normal(0, noise, base.shape)
    if square is not None:
        x, y = square
        image[y:y + size, x:x + size] = 250.0
    return np.clip(image, 0, 255).astype(np.uint8)


def times(seconds: float, start: float = 1_700_000_000.0) -> list[float]:
    return [start + i / FPS for i in range(int(seconds * FPS))]
