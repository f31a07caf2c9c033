"""Ratings and promotion: match records, Bradley-Terry / Plackett-Luce fits with intervals,
leaderboard files, the SPRT, and the one promotion gate.

Pure statistics over numpy arrays; files only through `ringrift_hpc.store`. Knows nothing
about the rules engine, torch or the cluster.

Import from the submodules: the package re-exports nothing, so importing one light module
(`rating.best`, `rating.participants`) does not pull numpy into a fast CLI command.
"""
