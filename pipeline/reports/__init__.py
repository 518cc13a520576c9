"""What a person reads about a run: text verdicts, the HTML report, the schema diff."""
