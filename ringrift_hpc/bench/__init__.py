"""Benchmarks run by `ringrift-hpc bench ...`: library code returning frozen results."""
