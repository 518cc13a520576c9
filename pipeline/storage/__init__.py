"""Where a home keeps what runs write: its own folder (the default), or object storage.

`storage: s3://BUCKET/PREFIX` in the home's config.yaml, or `$MNIST_PIPELINE_STORAGE`, puts the
data sets, every artifact (the pipeline root), the pushed models and the reports in a bucket
(`settings`). The project's own code reaches them through fsspec (`files`), TFX's file calls through
a TFX fileio plugin on the same fsspec (`tfx_fileio`), and TensorFlow's and Beam's own reads and
writes through a local copy of each execution's artifacts (`staging`). `preflight` refuses a run
whose bucket is missing or cannot be written, before anything is written.
"""
