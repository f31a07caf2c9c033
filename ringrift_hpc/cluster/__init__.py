"""Cluster access: executors (Slurm via submitit, local processes), batched scheduler queries,
accounting and sbatch rendering, all by job purpose (``purposes``). Knows nothing about the game:
the callable a job runs comes from a resolver the executor is given."""
