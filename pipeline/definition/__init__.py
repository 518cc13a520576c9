"""What the pipeline is: its nodes, how they are declared, and the TFX pipeline they build."""
