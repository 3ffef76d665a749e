"""The ffmpeg side shared by both renderers: encoder settings, flags, errors, the result.

Both renderers end in the same encoder with the same flags, so their files differ only in
how the pixels were produced, and both report what they made the same way.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Literal

from pydantic import Field

from adloom.domain import Creative, CreativePlan
from adloom.errors import RenderError
from adloom.io import atomic_path
from adloom.producer.layers import Template
from adloom.registry import BackendConfig

Preset = Literal["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"]

#: ffmpeg's follow-up lines that say *that* it failed, not *why*.
_GENERIC = (
    "Conversion failed",
    "Error while filtering",
    "Error opening output",
    "Error selecting an encoder",
    "Error while opening encoder",
    "Error initializing filter",
    "Error submitting",
    "Task finished with error",
    "Terminating thread",
    "Nothing was written",
    "Error closing file",
    "Exiting normally",
)
#: The "[component @ 0x55d0...]" prefix: an address, different on every run.
_PREFIX = re.compile(r"^\[[^\]]*@ 0x[0-9a-f]+\]\s*")


class EncodeConfig(BackendConfig):
    """H.264 settings; ``threads`` is fixed rather than automatic so output is bit-exact."""

    preset: Preset = Field(
        "ultrafast", description="x264 preset: encoding speed against file size."
    )
    rate_control: Literal["qp", "crf"] = Field(
        "qp",
        description="Constant QP costs about a fifth less encoder time than CRF for the "
        "same look on these mostly flat graphics; CRF gives smaller files.",
    )
    quality: int = Field(23, ge=0, le=51, description="The QP or CRF value: lower is better.")
    threads: int = Field(2, ge=1, le=64, description="Encoder threads.")
    audio: bool = Field(True, description="Add a silent AAC track; some players expect one.")
    keyframe_s: float = Field(2.0, gt=0, description="Seconds between keyframes.")


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise RenderError(f"ffmpeg is not available: {exc}") from None


def metadata(plan: CreativePlan, renderer: str) -> dict[str, str]:
    """Tags written into the MP4 so the disclosure travels with the file."""
    d = plan.disclosure
    return {
        "title": f"{plan.campaign_id}/{plan.product_id}",
        "comment": f"{d.text}; ai_generated=true; plan_id={plan.plan_id}",
        "description": d.text,
        "ai_generated": "true",
        "disclosure": d.text,
        "plan_id": plan.plan_id,
        "campaign_id": plan.campaign_id,
        "product_id": plan.product_id,
        "seed": str(plan.seed),
        "renderer": renderer,
    }


def input_args(config: EncodeConfig, tpl: Template) -> list[str]:
    """Extra inputs: the silent audio source when audio is on."""
    if not config.audio:
        return []
    return [
        "-f", "lavfi", "-t", f"{tpl.duration_s:.6f}",
        "-i", "anullsrc=channel_layout=stereo:sample_rate=48000",
    ]  # fmt: skip


def output_args(
    config: EncodeConfig, tpl: Template, tags: dict[str, str], audio_input: int, out: Path
) -> list[str]:
    """Encoder, container and bit-exactness flags for the MP4 output."""
    args = [
        "-frames:v", str(tpl.frame_count),
        "-r", str(tpl.fps),
        "-c:v", "libx264",
        "-preset", config.preset,
        f"-{config.rate_control}", str(config.quality),
        "-threads", str(config.threads),
        "-g", str(max(1, round(config.keyframe_s * tpl.fps))),
        "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv",
        "-flags:v", "+bitexact",
    ]  # fmt: skip
    if config.audio:
        args += [
            "-map", f"{audio_input}:a",
            "-c:a", "aac", "-b:a", "64k", "-flags:a", "+bitexact", "-shortest",
        ]  # fmt: skip
    args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    for key, value in tags.items():
        args += ["-metadata", f"{key}={value}"]
    args += [
        "-fflags", "+bitexact",
        "-movflags", "+faststart+use_metadata_tags",
        "-f", "mp4", str(out),
    ]  # fmt: skip
    return args


def thumbnail_args(thumb: Path) -> tuple[str, list[str]]:
    """(pixel conversion filter, output args) for a still in the thumbnail's format."""
    if thumb.suffix.lower() in (".jpg", ".jpeg"):
        conv = "scale=in_color_matrix=bt709:in_range=tv:out_range=pc,format=yuvj420p"
        return conv, ["-c:v", "mjpeg", "-q:v", "3", "-f", "image2", "-update", "1", str(thumb)]
    conv = "scale=in_color_matrix=bt709:in_range=tv,format=rgb24"
    return conv, ["-c:v", "png", "-f", "image2", "-update", "1", str(thumb)]


def error_line(stderr: str) -> str:
    """The last line of ffmpeg's stderr that explains the failure."""
    lines = [_PREFIX.sub("", ln.strip()) for ln in stderr.splitlines() if ln.strip()]
    meaningful = [ln for ln in lines if not any(g in ln for g in _GENERIC)]
    pick = meaningful or lines
    return pick[-1][:300] if pick else "no error output"


def fail(returncode: int, stderr: str) -> RenderError:
    return RenderError(f"ffmpeg failed (exit {returncode}): {error_line(stderr)}")


def run(cmd: list[str], stdin: bytes | None = None) -> None:
    """Run ffmpeg to completion; any failure becomes a one-line RenderError."""
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    except OSError as exc:
        raise RenderError(f"cannot run ffmpeg: {exc}") from None
    if proc.returncode != 0:
        raise fail(proc.returncode, proc.stderr.decode("utf-8", "replace"))


@contextmanager
def streaming(cmd: list[str]) -> Iterator[IO[bytes]]:
    """ffmpeg reading raw frames from a pipe; a failure on either side is a RenderError."""
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err
            )
        except OSError as exc:
            raise RenderError(f"cannot run ffmpeg: {exc}") from None
        assert proc.stdin is not None
        broken = False
        try:
            yield proc.stdin
            proc.stdin.close()
        except BrokenPipeError:
            broken = True  # ffmpeg exited early; its stderr says why
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        code = proc.wait()
        if code != 0 or broken:
            err.seek(0)
            raise fail(code, err.read().decode("utf-8", "replace"))


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@contextmanager
def outputs(out_path: Path, thumbnail_path: Path | None) -> Iterator[tuple[Path, Path | None]]:
    """Temporary paths for the video and thumbnail, renamed into place only on success."""
    with atomic_path(out_path, suffix=".mp4") as tmp_video:
        if thumbnail_path is None:
            yield tmp_video, None
            _publishable(tmp_video)
            return
        with atomic_path(thumbnail_path) as tmp_thumb:
            yield tmp_video, tmp_thumb
            _publishable(tmp_video, tmp_thumb)


def _publishable(*paths: Path) -> None:
    """Temporary files are private (0600); creatives are meant to be served and shared."""
    for path in paths:
        path.chmod(0o644)


def creative(
    plan: CreativePlan,
    tpl: Template,
    renderer: str,
    video: Path,
    sha: str,
    thumbnail: Path | None,
    tags: dict[str, str],
) -> Creative:
    return Creative(
        creative_id=f"{plan.plan_id}-{sha[:12]}",
        plan_id=plan.plan_id,
        path=str(video),
        thumbnail=str(thumbnail) if thumbnail is not None else None,
        width=tpl.width,
        height=tpl.height,
        fps=float(tpl.fps),
        duration_s=tpl.duration_s,
        frame_count=tpl.frame_count,
        sha256=sha,
        seed=plan.seed,
        renderer=renderer,
        disclosure_text=plan.disclosure.text,
        disclosure_box=tpl.disclosure_box,
        rendered_text=list(tpl.rendered_text),
        metadata=tags,
    )
