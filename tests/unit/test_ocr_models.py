"""Source S1's models on rendered text: Tesseract (English, Korean) and RapidOCR (English);
inputs by bytes or by blob; the profile chooses the batching."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferline.adapters.blobs.files import FileBlobStore
from inferline.core.settings import BatchingOverride, Settings
from inferline.domain.errors import InvalidInput
from inferline.models.ocr_rapid import RapidOCR
from inferline.models.ocr_tesseract import TesseractOCR
from inferline.ports.ocr import OcrInput, OcrModel
from inferline.runtime.serving import batching_config
from inferline.testing.documents import (
    ENGLISH_LINES,
    HANGUL_FONT,
    KOREAN_LINES,
    cer,
    encode,
    png,
    render,
)

KEY = "ocr/default/01890a5d-ac96-774b-bcce-b302099a8057/" + "ab" * 16


@pytest.fixture(scope="module")
def tesseract() -> TesseractOCR:
    model = TesseractOCR()
    model.load()
    model.warmup()
    return model


@pytest.fixture(scope="module")
def rapid() -> RapidOCR:
    model = RapidOCR()
    model.load()
    return model


def item(**fields: object) -> OcrInput:
    return OcrInput.model_validate(fields)


def test_tesseract_reads_english_and_korean(tesseract: TesseractOCR) -> None:
    english = png(ENGLISH_LINES)
    korean = encode([render(KOREAN_LINES, HANGUL_FONT)])
    out_en, out_ko = tesseract.predict_batch(
        [item(image=english, lang="eng"), item(image=korean, lang="kor")]
    )
    assert cer("\n".join(ENGLISH_LINES), out_en.text) <= 0.01
    assert cer("\n".join(KOREAN_LINES), out_ko.text) <= 0.03  # the pangram's rare syllable
    assert [line.text for line in out_en.lines] == ENGLISH_LINES
    assert tesseract._engines.built == len(tesseract.languages)  # built at warm-up, reused
    first = out_en.lines[0]
    assert 0.8 < first.confidence <= 1
    assert first.box[0] < first.box[2] and first.box[1] < first.box[3]


def test_rapid_reads_english_across_a_batch(rapid: RapidOCR) -> None:
    pdf = encode([render(ENGLISH_LINES[:1]), render(ENGLISH_LINES[2:3])], "PDF")
    out_pdf, out_png = rapid.predict_batch(
        [item(image=pdf, lang="eng", pages=[2, 1]), item(image=png(ENGLISH_LINES[1:2]))]
    )
    assert out_pdf.pages == 2
    assert [line.page for line in out_pdf.lines] == [2, 1]  # in the order asked for
    assert cer(ENGLISH_LINES[2] + "\n" + ENGLISH_LINES[0], out_pdf.text) <= 0.01
    assert "\f" in out_pdf.text
    assert cer(ENGLISH_LINES[1], out_png.text) <= 0.01
    with pytest.raises(InvalidInput, match="does not read 'kor'"):
        rapid.predict_batch([item(image=png(["x"]), lang="kor")])


def test_a_job_input_reads_its_blob_and_never_holds_the_image(tmp_path: Path) -> None:
    blobs = FileBlobStore(tmp_path)
    model = TesseractOCR(blobs)
    model.load()
    blobs.put(KEY, png(ENGLISH_LINES[:1]))
    [out] = model.predict_batch([item(blob=KEY)])
    assert out.text == ENGLISH_LINES[0]
    blobs.delete(KEY)
    with pytest.raises(InvalidInput, match="gone from the blob store"):
        model.predict_batch([item(blob=KEY)])
    # JSON (a job row) cannot carry the image: only real bytes are accepted
    with pytest.raises(ValueError, match="bytes"):
        OcrInput.model_validate({"image": "aGVsbG8=", "lang": "eng"})
    with pytest.raises(ValueError, match="exactly one"):
        OcrInput.model_validate({"lang": "eng"})
    with pytest.raises(ValueError, match="pattern"):
        OcrInput.model_validate({"blob": "../../etc/passwd"})
    assert "image" not in item(image=b"\x89PNG").model_dump()


@pytest.mark.parametrize("model", [TesseractOCR, RapidOCR])
def test_the_profile_chooses_the_strategy(model: type[OcrModel]) -> None:
    standard = batching_config(model, Settings(profile="standard"))
    batched = batching_config(model, Settings(profile="batched"))
    assert (standard.max_batch_size, standard.instances, standard.strategy) == (1, 1, "standard")
    assert batched.strategy == "batched"
    assert batched.max_batch_size > 1
    assert batched.profile == "batched"
    override = Settings(
        profile="standard", batching={model.name: BatchingOverride(max_batch_size=3)}
    )
    assert batching_config(model, override).max_batch_size == 3


def test_standard_runs_any_model_one_at_a_time() -> None:
    from inferline.models.moving_average import MovingAverage

    assert batching_config(MovingAverage, Settings(profile="standard")).max_batch_size == 1
    unset = batching_config(MovingAverage, Settings())
    assert unset.max_batch_size == MovingAverage.max_batch_size
    assert unset.profile is None
