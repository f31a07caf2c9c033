"""Cluster access: executors (Slurm via submitit, local processes), batched scheduler queries,
accounting and sbatch rendering. Knows nothing about the game: it runs picklable callables."""
