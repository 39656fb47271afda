"""What the forecasting models accept as one value of a series."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# Up to 1e300: sums over 100,000 values (moving-average's prefix sums) and the LSTM's
# rescaled forecasts stay far from float64's limit (1.8e308), so no output is inf/NaN.
MAX_VALUE_MAGNITUDE = 1e300

SeriesValue = Annotated[float, Field(ge=-MAX_VALUE_MAGNITUDE, le=MAX_VALUE_MAGNITUDE)]
