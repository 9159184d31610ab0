"""Reading and normalising city submissions into the raw layer of the work warehouse."""
