"""Recipes on disk: rendered from a stack and its variants (`render`), with sources resolved
(`sources`, `mirror`). The recipe directory is the contract between render and build."""
