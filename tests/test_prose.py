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
