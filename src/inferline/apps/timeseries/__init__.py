"""Source S2 (time series): submit a series as a job of a forecasting or smoothing model."""

from inferline.apps.timeseries.routes import router

__all__ = ["router"]
