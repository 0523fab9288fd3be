"""Broken video files that several test modules need (imported as a plain module: pytest puts tests/ on
sys.path)."""
import av


def zero_frame_video(path):
    """An AVI with a video track that has no frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()
    return path


def bunny_first_frame():
    """Frame 0 of the bundled Big Buck Bunny clip (640x360 RGB)."""
    from pathlib import Path

    from kit.tracking.video import read_frame

    return read_frame(Path(__file__).resolve().parents[1] / "assets" / "examples" / "bunny.mp4", 0)
