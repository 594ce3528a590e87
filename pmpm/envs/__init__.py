"""Environments from channels: solve and install (py-rattler), lock files, offline bundles,
verification against a lock, and conda-pack archives."""
