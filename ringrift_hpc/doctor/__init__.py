"""Preflight checks for a site and a run: `ringrift-hpc doctor`."""

from ringrift_hpc.doctor.checks import Line, filesystem_checks, run_doctor, slurm_checks

__all__ = ["Line", "filesystem_checks", "run_doctor", "slurm_checks"]
