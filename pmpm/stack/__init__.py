"""The stack file: the conda environment.yml part and the `_pmpm:` part, validated into a model.

First layer of the data flow (stack → variants → recipes → channel/envs → engines → builder →
executors): it imports nothing of pmpm above `errors`, `order` and `resources`.
"""
