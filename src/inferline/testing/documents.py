"""Documents with known text for the OCR tests and benchmark: text rendered with a TTF
font that exists on the machine, as PNG, JPEG, TIFF or PDF bytes; character error rate."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
HANGUL_FONT = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")  # Debian fonts-nanum

ENGLISH_LINES = [
    "The quick brown fox jumps over the lazy dog.",
    "Invoice 2024-117: total 1,234.56 EUR due in 30 days.",
    "Inferline reads documents in micro-batches.",
    "Pack my box with five dozen liquor jugs.",
]
KOREAN_LINES = [
    "광학 문자 인식 서비스를 운영합니다.",
    "배치 처리로 처리량을 높입니다.",
    "다람쥐 헌 쳇바퀴에 타고파",
]


def render(
    lines: list[str], font: Path = LATIN_FONT, size: int = 28, margin: int = 24
) -> Image.Image:
    """Black text on white, one line each, grayscale."""
    face = ImageFont.truetype(str(font), size)
    step = int(size * 1.8)
    width = max(int(face.getlength(line)) for line in lines) + 2 * margin
    image = Image.new("L", (width, step * len(lines) + 2 * margin), 255)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * step), line, font=face, fill=0)
    return image


def encode(images: list[Image.Image], fmt: str = "PNG") -> bytes:
    """Images as one file: PNG/JPEG (the first), TIFF or PDF (every image a page)."""
    buffer = io.BytesIO()
    first, rest = images[0], images[1:]
    if fmt in ("TIFF", "PDF"):
        first.save(buffer, fmt, save_all=True, append_images=rest, resolution=200.0)
    else:
        first.save(buffer, fmt)
    return buffer.getvalue()


def png(lines: list[str], font: Path = LATIN_FONT) -> bytes:
    """The lines rendered as a PNG."""
    return encode([render(lines, font)])


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edit distance / reference length (whitespace runs as one
    space, ends stripped)."""
    ref, hyp = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / len(ref)
