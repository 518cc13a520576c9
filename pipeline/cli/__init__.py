"""The `mnist-pipeline` command line: the parser (main) and one module per group of commands."""
