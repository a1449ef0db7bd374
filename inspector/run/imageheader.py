"""What decoding an image will cost, read from its header alone: its size in pixels (and a GIF's frames)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

# JPEG start-of-frame markers (baseline, extended, progressive, lossless, and
# their differential and arithmetic-coded forms): each holds the frame's size.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers that stand alone, without a length.
_JPEG_BARE = frozenset(range(0xD0, 0xD8)) | {0x01, 0xD8}


@dataclass(frozen=True)
class ImageHeader:
    """An image's format and size as its header gives them, and how many pixels decoding it fills."""

    format: str
    width: int
    height: int
    # Pixels the decoder fills: width x height, except a GIF, whose decoder
    # (giflib's DGifSlurp, in TensorFlow) decodes every frame to pick the first.
    decoded_pixels: int
    frames: int = 1

    def to_json(self) -> dict:
        return {"format": self.format, "width": self.width, "height": self.height,
                "decoded_pixels": self.decoded_pixels, "frames": self.frames}


def image_header(data: bytes) -> ImageHeader | None:
    """The header facts of PNG, JPEG, GIF, BMP or WebP bytes; None for anything else or a header cut short."""
    try:
        if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return _still("PNG", width, height)
        if data.startswith(b"\xff\xd8"):
            return _jpeg(data)
        if data[:6] in (b"GIF87a", b"GIF89a"):
            return _gif(data)
        if data.startswith(b"BM"):
            (dib,) = struct.unpack("<I", data[14:18])
            if dib == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
                width, height = struct.unpack("<HH", data[18:22])
            else:
                width, height = struct.unpack("<ii", data[18:26])
            return _still("BMP", abs(width), abs(height))
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _webp(data)
    except (struct.error, IndexError):
        return None  # cut short: the decoder says what is wrong
    return None


def _still(fmt: str, width: int, height: int) -> ImageHeader:
    return ImageHeader(format=fmt, width=width, height=height, decoded_pixels=width * height)


def _jpeg(data: bytes) -> ImageHeader | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_BARE:
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or the scan data begins before any frame header
            return None
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return _still("JPEG", width, height)
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + length
    return None


def _gif(data: bytes) -> ImageHeader:
    width, height, packed = struct.unpack("<HHB", data[6:11])
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    frames = 0
    pixels = width * height  # the canvas TensorFlow composes the first frame on
    while pos < len(data):
        block = data[pos]
        if block == 0x2C:  # image descriptor: one frame
            frame_w, frame_h, frame_packed = struct.unpack("<HHB", data[pos + 5 : pos + 10])
            frames += 1
            pixels += frame_w * frame_h
            pos += 10 + (3 << ((frame_packed & 7) + 1) if frame_packed & 0x80 else 0)
            pos = _skip_sub_blocks(data, pos + 1)  # after the LZW code size
        elif block == 0x21:  # extension: label, then sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        else:  # the trailer, or damage the decoder reports
            break
    return ImageHeader(format="GIF", width=width, height=height, decoded_pixels=pixels, frames=max(frames, 1))


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos]:
        pos += 1 + data[pos]
    return pos + 1


def _webp(data: bytes) -> ImageHeader | None:
    chunk = data[12:16]
    if chunk == b"VP8X":  # extended: the canvas size, 24-bit minus one
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
    elif chunk == b"VP8 ":  # lossy: after the frame tag and start code, 14-bit sizes
        width, height = (v & 0x3FFF for v in struct.unpack("<HH", data[26:30]))
    elif chunk == b"VP8L":  # lossless: 14-bit sizes minus one, after a signature byte
        (bits,) = struct.unpack("<I", data[21:25])
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        return None
    return _still("WebP", width, height)


__all__ = ["ImageHeader", "image_header"]
