"""Raw data in: sources, TFRecords, data sets of spans, your own images, and what a run reads."""
