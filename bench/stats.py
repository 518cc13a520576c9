"""Summaries the benchmark's stages share."""
import statistics


def spread(values: list[float]) -> dict:
    """Median, min and max of repeated measurements, and how many there were."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}
