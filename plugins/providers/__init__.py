"""Built-in provider adapters (entry-point group ``litegate.providers``)."""
