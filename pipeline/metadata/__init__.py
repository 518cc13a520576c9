"""The ML Metadata store: opening it, a run's records, spans, run summaries and lineage."""
