from __future__ import annotations

import numpy as np

from sensors.parameters import BY_CODE
from sensors.readings import pivot


def test_pivot_places_each_value_in_its_row_and_column() -> None:
    nh3n, tp, temp = (BY_CODE[c].id for c in ("nh3n", "tp", "temp"))
    row = np.array([0, 0, 1, 2, 2])
    pid = np.array([nh3n, tp, nh3n, tp, temp])
    value = np.array([0.5, 0.1, 0.7, 0.2, 21.0])
    wide = pivot(row, pid, value, 3)
    assert set(wide) == {"nh3n", "tp"}  # temperature is not classified
    np.testing.assert_array_equal(wide["nh3n"], [0.5, 0.7, np.nan])
    np.testing.assert_array_equal(wide["tp"], [0.1, np.nan, 0.2])


def test_pivot_keeps_only_the_selected_readings() -> None:
    nh3n = BY_CODE["nh3n"].id
    wide = pivot(
        np.array([0, 1]),
        np.array([nh3n, nh3n]),
        np.array([0.5, 9.9]),
        2,
        keep=np.array([True, False]),
    )
    np.testing.assert_array_equal(wide["nh3n"], [0.5, np.nan])
