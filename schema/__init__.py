"""The curated schema: `schema.pbtxt`, the reviewed data contract, shipped with the package."""
from pathlib import Path

SCHEMA_FILE = Path(__file__).resolve().parent / "schema.pbtxt"
