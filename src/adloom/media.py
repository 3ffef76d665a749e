"""Describe an existing video file as a :class:`Creative`, for verifying outside files.

A creative rendered by adloom comes with its own record (``creative.json``); a file made
elsewhere does not, so this probes the container and assumes the disclosure label sits
where the plan says it should.
"""

from __future__ import annotations

from pathlib import Path

from adloom.domain import Creative as CreativeModel
from adloom.domain import CreativePlan
from adloom.errors import InputError
from adloom.io import sha256_file
from adloom.producer.label import label_box


def creative_for_file(path: Path, plan: CreativePlan) -> CreativeModel:
    import av

    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(path, "no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or 0)
            duration = (
                float(stream.duration * stream.time_base)
                if stream.duration is not None and stream.time_base is not None
                else float(container.duration or 0) / 1_000_000
            )
            frames = stream.frames or round(duration * fps)
            width, height = stream.codec_context.width, stream.codec_context.height
            codec = stream.codec_context.name
            metadata = {str(k): str(v) for k, v in container.metadata.items()}
    except av.error.FFmpegError as exc:
        raise InputError(path, f"unreadable video: {exc}") from None
    digest = sha256_file(path)
    return CreativeModel(
        creative_id=f"file-{digest[:12]}",
        plan_id=plan.plan_id,
        path=str(path),
        width=width,
        height=height,
        fps=fps,
        duration_s=duration,
        frame_count=frames,
        codec=codec,
        sha256=digest,
        seed=plan.seed,
        renderer="external",
        disclosure_text=plan.disclosure.text,
        disclosure_box=label_box(plan.disclosure.text, (width, height), plan.disclosure.position),
        metadata=metadata,
    )
