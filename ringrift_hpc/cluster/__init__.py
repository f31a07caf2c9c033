"""Cluster access: Slurm queries and preflight checks; knows nothing about the game."""
