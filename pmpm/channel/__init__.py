"""The local conda channel: its layout, publishing under a lock, and re-indexing with py-rattler."""
