"""The built-in plugins and provider adapters (`litegate.plugins`).

They are registered in litegate's own pyproject under the same entry-point groups third
parties use, and loaded only when `pipeline.toml` names them.
"""
