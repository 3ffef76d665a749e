"""Encoded scenes kept on disk, so a revised plan re-encodes only the scenes it changed.

Each scene's H.264 elementary stream is stored under a key hashing everything its frames
come from (:func:`scene_key`): the filter graph that composites it, the pixels of every
still that graph cuts out, the encoder's arguments and the ffmpeg and adloom versions.
Scene streams start with a keyframe and are timed from zero, so cached and freshly
encoded scenes concatenate in any mix.

Files are written under a temporary name and renamed into place, so renders sharing a
folder (two workers on one campaign) never read half a file: at worst both encode a
scene and the second rename wins, with the same bytes. Every file carries a checksum of
its stream; a truncated or damaged file is dropped and its scene encoded again rather
than spliced into a creative.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import subprocess
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from PIL import Image

from adloom import __version__
from adloom.errors import InputError, RenderError
from adloom.io import atomic_path
from adloom.producer import ffmpeg

log = logging.getLogger(__name__)

#: File header; its version changes whenever the key or the file layout does.
MAGIC = b"adloom-scene-1\n"
_CHECKSUM = hashlib.sha256().digest_size
#: Annex B start codes: what an H.264 elementary stream begins with.
_START_CODES = (b"\x00\x00\x00\x01", b"\x00\x00\x01")


@lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version``: a new ffmpeg may encode the same graph
    differently, so its scenes must not mix with older ones."""
    exe = ffmpeg.ffmpeg_exe()
    try:
        out = subprocess.run(
            [exe, "-hide_banner", "-version"], capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise RenderError(f"cannot ask ffmpeg for its version: {exc}") from None
    lines = out.decode("utf-8", "replace").splitlines()
    return lines[0] if lines else exe


def image_digest(img: Image.Image) -> bytes:
    """Hash of an image's pixels (mode and size included)."""
    digest = hashlib.sha256(f"{img.mode} {img.width}x{img.height}\n".encode())
    digest.update(img.tobytes())
    return digest.digest()


def scene_key(graph: str, images: Iterable[bytes], encoder: Sequence[str]) -> str:
    """The cache key of one scene's stream.

    ``graph`` composites the scene with its stills at fixed places and its times counted
    from the scene's own start, so it describes the frames without depending on where
    the scene sits in the video or in the atlas; ``images`` are the digests of those
    stills in the graph's order and ``encoder`` the output arguments of its stream.
    """
    digest = hashlib.sha256()
    for part in (MAGIC.decode(), __version__, ffmpeg_version(), graph, *encoder):
        data = part.encode()
        digest.update(b"%d:" % len(data) + data)
    for image in images:
        digest.update(image)
    return digest.hexdigest()


def unpack(data: bytes) -> bytes | None:
    """The stream stored in a cache file's ``data``, or None when it does not check out."""
    head = len(MAGIC) + _CHECKSUM
    if len(data) <= head or not data.startswith(MAGIC):
        return None
    stream = data[head:]
    if hashlib.sha256(stream).digest() != data[len(MAGIC) : head]:
        return None
    return stream if stream.startswith(_START_CODES) else None


def pack(stream: bytes) -> bytes:
    """A cache file's content: header, checksum, stream."""
    return MAGIC + hashlib.sha256(stream).digest() + stream


class SceneCache:
    """A folder of encoded scenes, one file per key; safe to share between processes."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(
                "scene_cache", f"cannot use {self.folder} as a folder: {exc.strerror}"
            ) from None

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.h264"

    def get(self, key: str) -> bytes | None:
        """The stream stored under ``key``; None if absent, or damaged (then removed)."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        stream = unpack(data)
        if stream is None:
            log.warning("scene cache: dropping damaged file %s", path)
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        # A hit refreshes the file's time, so pruning the oldest files keeps the live ones.
        with contextlib.suppress(OSError):
            os.utime(path)
        return stream

    def put(self, key: str, stream: bytes) -> None:
        """Store ``stream`` atomically. A failure costs only a later re-encode, so it is
        logged rather than failing the render that has its video already."""
        try:
            with atomic_path(self.path(key)) as tmp:
                tmp.write_bytes(pack(stream))
        except OSError as exc:
            log.warning("scene cache: cannot write %s: %s", self.path(key), exc.strerror)
