"""The ffmpeg side shared by both renderers: encoder settings, flags, errors, the result.

Both renderers end in the same encoder with the same flags, so their files differ only in
how the pixels were produced, and both report what they made the same way.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import IO, Literal

from PIL import Image
from pydantic import Field

from adloom.domain import Campaign, Creative, CreativePlan, RenderStats
from adloom.errors import RenderError
from adloom.io import atomic_path, sha256_file
from adloom.producer.layers import Template
from adloom.producer.provenance import ProvenanceConfig, manifest_for, sign_mp4
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
    threads: int = Field(
        2, ge=1, le=64, description="Encoder threads in all (shared among parallel encoders)."
    )
    audio: bool = Field(True, description="Add a silent AAC track; some players expect one.")
    keyframe_s: float = Field(2.0, gt=0, description="Seconds between keyframes.")
    provenance: ProvenanceConfig = Field(
        default_factory=ProvenanceConfig,
        description="The signed C2PA manifest embedded in every published file.",
    )


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The ffmpeg binary bundled with imageio-ffmpeg (or the one IMAGEIO_FFMPEG_EXE names)."""
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError) as exc:
        raise RenderError(f"ffmpeg is not available: {exc}") from None


def credits(plan: CreativePlan, campaign: Campaign) -> str:
    """The attributions the licences of the plan's assets require, deduplicated."""
    try:
        product = campaign.product(plan.product_id)
    except KeyError:
        return ""
    ids = [a for s in plan.scenes for a in s.asset_ids]
    if plan.logo_asset:
        ids.append(plan.logo_asset)
    images = {s.background.image for s in plan.scenes if s.background.image}
    out: list[str] = []
    for asset in product.assets:
        used = asset.id in ids or str(campaign.asset_path(asset)) in images or asset.path in images
        text = asset.license.attribution
        if used and text and text not in out:
            out.append(text)
    return "; ".join(out)


def metadata(plan: CreativePlan, renderer: str, credit: str = "") -> dict[str, str]:
    """Tags written into the MP4 so the disclosure (and credits) travel with the file."""
    d = plan.disclosure
    tags = {"title": f"{plan.campaign_id}/{plan.product_id}"}
    if credit:
        tags["credits"] = credit
    if d.in_metadata:
        tags |= {
            "comment": f"{d.text}; ai_generated=true; plan_id={plan.plan_id}",
            "description": d.text,
            "ai_generated": "true",
            "disclosure": d.text,
        }
    return tags | {
        "plan_id": plan.plan_id,
        "plan_kind": plan.kind,
        "campaign_id": plan.campaign_id,
        "product_id": plan.product_id,
        "seed": str(plan.seed),
        "renderer": renderer,
    }


#: Longest silence kept ready; longer creatives are not supported anyway.
_SILENCE_S = 61


def silence() -> Path:
    """The silent AAC file (see :func:`_silence`), made again if it was cleaned away."""
    path = _silence()
    if not path.is_file():
        _silence.cache_clear()
        path = _silence()
    return path


@lru_cache(maxsize=1)
def _silence() -> Path:
    """A file of silent AAC, encoded once and then stream-copied into every creative.

    Encoding the same silence for each render costs about a tenth of a second; copying
    packets costs nothing. The file is shared per user and ffmpeg binary, falling back to
    a private folder where the shared one cannot be written.
    """
    exe = ffmpeg_exe()
    key = hashlib.sha256(f"{exe}:{Path(exe).stat().st_size}".encode()).hexdigest()[:12]
    user = os.getuid() if hasattr(os, "getuid") else "user"
    shared = Path(tempfile.gettempdir()) / f"adloom-{user}"
    for folder in (shared, None):
        try:
            folder = folder or Path(tempfile.mkdtemp(prefix="adloom-"))
            path = folder / f"silence-{key}.m4a"
            if not path.is_file():
                folder.mkdir(parents=True, exist_ok=True)
                with atomic_path(path) as tmp:
                    run([
                        exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                        "-f", "lavfi",
                        "-i", f"anullsrc=channel_layout=stereo:sample_rate=48000:d={_SILENCE_S}",
                        "-c:a", "aac", "-b:a", "64k", "-flags:a", "+bitexact",
                        "-fflags", "+bitexact", "-map_metadata", "-1", "-f", "mp4", str(tmp),
                    ])  # fmt: skip
            return path
        except OSError:
            continue
    raise RenderError("cannot write the silent audio track to any temporary folder")


def input_args(config: EncodeConfig, tpl: Template) -> list[str]:
    """Extra inputs: the silent audio track when audio is on."""
    if not config.audio:
        return []
    return ["-t", f"{tpl.duration_s:.6f}", "-i", str(silence())]


def video_args(
    config: EncodeConfig, tpl: Template, frames: int, keyframe: int | None, threads: int
) -> list[str]:
    """H.264 encoding of ``frames`` frames; ``keyframe`` (a frame number) must be an IDR."""
    args = [
        "-frames:v", str(frames),
        "-r", str(tpl.fps),
        "-c:v", "libx264",
        "-preset", config.preset,
        f"-{config.rate_control}", str(config.quality),
        "-threads", str(threads),
        "-g", str(max(1, round(config.keyframe_s * tpl.fps))),
        "-pix_fmt", "yuv420p",
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv",
        "-flags:v", "+bitexact",
    ]  # fmt: skip
    if keyframe is not None:
        args += ["-force_key_frames", f"{keyframe / tpl.fps:.6f}"]
    return args


def container_args(
    config: EncodeConfig, tags: dict[str, str], audio_input: int, out: Path
) -> list[str]:
    """Audio, tags and bit-exactness flags of the MP4 file."""
    args = ["-map", f"{audio_input}:a", "-c:a", "copy"] if config.audio else []
    args += ["-map_metadata", "-1", "-map_chapters", "-1"]
    for key, value in tags.items():
        args += ["-metadata", f"{key}={value}"]
    args += [
        "-fflags", "+bitexact",
        "-movflags", "+faststart+use_metadata_tags",
        "-f", "mp4", str(out),
    ]  # fmt: skip
    return args


def thumbnail(video: Path, tpl: Template, dest: Path) -> None:
    """Save the thumbnail frame of ``video`` as an image (format from ``dest``'s suffix).

    The frame is a keyframe, so this decodes one frame. Drawing it in the filter graph
    instead (a second output) stalls the graph and costs a fifth of a second.
    """
    import av

    target = tpl.thumbnail_frame / tpl.fps
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            assert stream.time_base is not None
            container.seek(round(target / stream.time_base), stream=stream)
            for frame in container.decode(stream):
                if frame.time is not None and frame.time >= target - 0.5 / tpl.fps:
                    image: Image.Image = frame.to_image(  # type: ignore[no-untyped-call]
                        src_colorspace="ITU709", dst_colorspace="ITU709"
                    )
                    break
            else:
                raise RenderError(f"no frame at {target:.2f}s for the thumbnail")
    except av.error.FFmpegError as exc:
        raise RenderError(f"cannot read back the video for its thumbnail: {exc}") from None
    fmt = Image.registered_extensions().get(dest.suffix.lower(), "PNG")
    options = {"JPEG": {"quality": 90}, "PNG": {"compress_level": 1}}.get(fmt, {})
    image.save(dest, format=fmt, **options)


def error_line(stderr: str) -> str:
    """The last line of ffmpeg's stderr that explains the failure."""
    lines = [_PREFIX.sub("", ln.strip()) for ln in stderr.splitlines() if ln.strip()]
    meaningful = [ln for ln in lines if not any(g in ln for g in _GENERIC)]
    pick = meaningful or lines
    return pick[-1][:300] if pick else "no error output"


def fail(returncode: int, stderr: str) -> RenderError:
    return RenderError(f"ffmpeg failed (exit {returncode}): {error_line(stderr)}")


def run(cmd: list[str], stdin: Callable[[], bytes] | None = None, timeout_s: float = 600.0) -> None:
    """Run ffmpeg to completion; any failure becomes a one-line RenderError.

    ``stdin`` is called only once ffmpeg has been started, so preparing the input
    overlaps with ffmpeg's own start-up.
    """
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        raise RenderError(f"cannot run ffmpeg: {exc}") from None
    try:
        _, err = proc.communicate(stdin() if stdin else None, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise RenderError(f"ffmpeg did not finish within {timeout_s:g}s") from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise fail(proc.returncode, err.decode("utf-8", "replace"))


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


def command(
    config: EncodeConfig,
    tpl: Template,
    tags: dict[str, str],
    video_input: list[str],
    graph: str,
    out: Path,
) -> list[str]:
    """The ffmpeg command: ``video_input`` is input 0, the graph's ``[vout]`` is encoded.

    The thumbnail frame is made a keyframe so that it decodes on its own.
    """
    return [
        *head(),
        *video_input,
        *input_args(config, tpl),
        "-filter_complex", graph,
        "-map", "[vout]",
        *video_args(config, tpl, tpl.frame_count, tpl.thumbnail_frame, config.threads),
        *container_args(config, tags, 1, out),
    ]  # fmt: skip


def head() -> list[str]:
    return [
        ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y",
        # One thread per filter graph: slice threads cost more than they give on small
        # overlays, and the encoders want the other cores.
        "-filter_complex_threads", "1",
    ]  # fmt: skip


def mux_command(config: EncodeConfig, tpl: Template, tags: dict[str, str], out: Path) -> list[str]:
    """Wrap an H.264 elementary stream read from stdin into the MP4 file, with audio."""
    return [
        *head(),
        "-f", "h264", "-framerate", str(tpl.fps), "-i", "pipe:0",
        *input_args(config, tpl),
        "-map", "0:v", "-c:v", "copy",
        *container_args(config, tags, 1, out),
    ]  # fmt: skip


def produce(
    plan: CreativePlan,
    tpl: Template,
    renderer: str,
    out_path: Path,
    thumbnail_path: Path | None,
    encode: Callable[[Path, dict[str, str]], None],
    provenance: ProvenanceConfig | None = None,
    credit: str = "",
) -> Creative:
    """Run ``encode(temporary_mp4, tags)``, add the thumbnail, sign, publish, describe.

    Signing adds a random instance id and signature, so the published bytes differ on
    every render: ``creative_id`` hashes the unsigned encode (the video essence), which
    stays deterministic, and ``sha256`` is the hash of the file as published. Without
    ``provenance`` the defaults apply: signed, by the development identity.
    """
    tags = metadata(plan, renderer, credit)
    sign = provenance or ProvenanceConfig()
    out_path = Path(out_path)
    thumb = Path(thumbnail_path) if thumbnail_path is not None else None
    with outputs(out_path, thumb) as (tmp_video, tmp_thumb):
        # The unsigned encode sits beside the (uniquely named) temporary output.
        raw = tmp_video.with_suffix(".unsigned.mp4") if sign.enabled else tmp_video
        try:
            encode(raw, tags)
            if tmp_thumb is not None:
                thumbnail(raw, tpl, tmp_thumb)
            essence = sha256_file(raw)
            if sign.enabled:
                sign_mp4(raw, tmp_video, manifest_for(plan, renderer), sign)
        finally:
            if raw != tmp_video:
                raw.unlink(missing_ok=True)
        sha = sha256_file(tmp_video) if sign.enabled else essence
    return Creative(
        creative_id=f"{plan.plan_id}-{essence[:12]}",
        plan_id=plan.plan_id,
        path=str(out_path),
        thumbnail=str(thumb) if thumb is not None else None,
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
        provenance="c2pa" if sign.enabled else None,
    )


def publish(
    plan: CreativePlan,
    campaign: Campaign,
    tpl: Template,
    renderer: str,
    config: EncodeConfig,
    out_path: Path,
    thumbnail_path: Path | None,
    encode: Callable[[Path, dict[str, str]], None],
    *,
    started: float,
    encoded: Sequence[int],
    cached: Sequence[int] = (),
) -> Creative:
    """:func:`produce` with the campaign's credits and the render's statistics attached."""
    creative = produce(
        plan,
        tpl,
        renderer,
        out_path,
        thumbnail_path,
        encode,
        provenance=config.provenance,
        credit=credits(plan, campaign),
    )
    stats = RenderStats(
        encoded_scenes=list(encoded),
        cached_scenes=list(cached),
        render_s=round(time.perf_counter() - started, 3),
    )
    return creative.model_copy(update={"render_stats": stats})
