"""Signals and trends: daily series, events, surge factors, change points, peaks, lags, alerts."""
