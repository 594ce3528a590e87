"""Building a recipe set: the plan, the scheduler over an engine and the channel, fingerprints
and `--dirty` workspaces (`rebuild`), and the replay of unchanged invocations (`replay`)."""
