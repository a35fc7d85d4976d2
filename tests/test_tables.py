"""The book's tables: a format per column, short headers, no row numbers, counts as integers."""
import re

import numpy as np
import pandas as pd

from hydronet_nb.book.tables import MISSING, table


def cells(styler) -> list[str]:
    """The text of the body cells, row by row."""
    return [re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r'<td [^>]*class="data[^"]*"[^>]*>(.*?)</td>', styler.to_html())]


def headers(styler) -> list[str]:
    return [re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r"<th [^>]*>(.*?)</th>", styler.to_html())]


def test_counts_read_as_integers_beside_fractions_and_missing_values_as_a_dash():
    # a row of a transposed table mixes counts and hours: pandas would print 70.00 and 0.75
    frame = pd.DataFrame({"epochs": [70.0, 70.0], "hours": [0.7512, 1.4321], "added": [485.0, np.nan]},
                         index=pd.Index(["scratch", "finetuned"], name="model"))
    shown = table(frame, {"epochs": "d", "hours": ".2f", "added": ",d"})
    assert cells(shown) == ["scratch", "70", "0.75", "485", "finetuned", "70", "1.43", MISSING]


def test_the_index_name_is_a_column_header_and_row_numbers_are_hidden():
    named = table(pd.DataFrame({"mae_per_water": [0.1]}, index=pd.Index(["transfer"], name="model")))
    assert headers(named) == ["model", "E/water MAE"]  # the shared short header, no row for the index name
    numbered = table(pd.DataFrame({"seed": [0, 1], "intact": [True, False]}), {"seed": "d"})
    assert headers(numbered) == ["seed", "intact"] and cells(numbered) == ["0", "yes", "1", "no"]


def test_headers_caption_and_words_in_a_column_of_numbers():
    frame = pd.DataFrame({"training minima": [4000, "all"], "f_ang": [0.0981, -0.0001]})
    shown = table(frame, {"training minima": ",d"}, {"training minima": "minima"}, caption="kcal/mol")
    html = shown.to_html()
    assert "<caption>kcal/mol</caption>" in html and headers(shown) == ["minima", "Fang"]
    assert cells(shown) == ["4,000", "0.098", "all", "0.000"]  # no -0.000


def test_two_level_headers_take_the_top_label_s_format():
    frame = pd.DataFrame({("force_mae", "pretrained"): [2.08823], ("force_mae", "scratch"): [4.64],
                          ("pretrained_wins", ""): [True]}, index=pd.Index([250], name="n_train"))
    shown = table(frame, {"pretrained_wins": ""}, {"n_train": "clusters", "pretrained_wins": "pretrained wins"})
    assert cells(shown) == ["250", "2.088", "4.640", "yes"]
    assert {"clusters", "F MAE", "pretrained wins", "pretrained", "scratch"} <= set(headers(shown))
