"""The chapters' outcome- and data-dependent sentences: a stand-in never needs a number its template lacks."""
import string

import pytest

from hydronet_nb.book.prose import TEXTS, sentence


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_the_stand_in_needs_only_numbers_the_template_has(name):
    template, stand_in = TEXTS[name]
    assert fields(stand_in) <= fields(template), f"{name}: the stand-in needs {fields(stand_in) - fields(template)}"


def test_a_sentence_says_its_template_or_its_stand_in():
    values = {"pt_before": 0.6, "t2_pretrained_GFN2_xTB": 0.15}
    said, instead = sentence("pt_verdict", values, present=True), sentence("pt_verdict", values, present=False)
    assert said.startswith("The published start wins") and "(0.600 against the book's 0.150" in said
    assert "wins" not in instead and "0.600 kcal/mol per water off GFN2-xTB against the book's 0.150" in instead


def test_word_specs_say_a_number_as_a_sentence_does():
    """``abs`` for prose that words the direction itself ("falls by"); ``duration`` for times in words."""
    from hydronet_nb.book.formatting import as_text

    assert as_text(-648.2, "abs.0f") == "648" and as_text(-0.001, "abs.2f") == "0.00" and as_text(-5.0, "abs,d") == "5"
    seconds = (4e-5, 0.0012, 0.0123, 0.2504, 0.999, 3.44, 59.6, 272, 3599, 8640)
    assert [as_text(s, "duration") for s in seconds] == [
        "under a millisecond", "1.2 ms", "12 ms", "250 ms", "1.0 s", "3.4 s", "1.0 min", "4.5 min", "1.0 h", "2.4 h"]
    assert as_text(float("nan"), "duration") == "n/a" and as_text(None, "abs.1f") == "n/a"


def test_the_teachers_times_say_where_when_and_with_which_profile(tmp_path):
    """The teachers' page shows the CSV `python -m hydronet_nb.book.timing` wrote, under a caption read from it."""
    from pathlib import Path

    import pandas as pd

    from hydronet_nb.book.timing import page_table

    rows = [{"chapter": "00_quickstart", "title": "Start", "minutes": 0.15, "profile": "test",
             "hardware": "Intel Xeon, 2 cores", "date": "2026-12-02"},
            {"chapter": "01_data", "title": "The data", "minutes": 4.5, "profile": "test",
             "hardware": "Intel Xeon, 2 cores", "date": "2026-12-03"}]
    pd.DataFrame(rows).to_csv(tmp_path / "times.csv", index=False)
    caption, shown = page_table(tmp_path / "times.csv")
    assert caption.startswith("Measured on Intel Xeon, 2 cores, 2026-12-02; 2026-12-03, test profile")
    assert shown == [("Start", "9.0 s"), ("The data", "4.5 min")]
    pd.DataFrame(rows).drop(columns="hardware").to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(ValueError, match="old.csv: no column hardware"):
        page_table(tmp_path / "old.csv")
    root = Path(__file__).resolve().parents[1]
    page = (root / "book" / "teaching.md").read_text()
    assert "{chapter-times} _static/chapter_times_test.csv" in page
    assert "nb-exec-table" not in page  # the build machine's own times are not shown as facts
    caption, _ = page_table(root / "book" / "_static" / "chapter_times_test.csv")
    assert "cores" in caption and "test profile" in caption
