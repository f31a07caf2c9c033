"""ringrift-hpc: the AlphaZero-style self-improvement loop for RingRift on HPC clusters."""

__version__ = "0.1.0"
