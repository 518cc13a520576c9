"""Summaries the benchmark's stages share."""
import statistics


def spread(values: list[float]) -> dict:
    """Median, min and max of repeated measurements, and how many there were."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def weights_digest(summary) -> str:
    """SHA-256 of the variables file of a run's trained model (pipeline.metadata.runs.RunSummary):
    equal digests mean bit-identical weights."""
    import hashlib
    from pathlib import Path

    [model] = summary.components["Trainer"].outputs["model"]
    variables = sorted((Path(model.uri) / "Format-Serving" / "variables").glob("variables.data-*"))
    digest = hashlib.sha256()
    for path in variables:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
