"""Digits from files, classifying them locally or through TF Serving, and the feature extractor."""
