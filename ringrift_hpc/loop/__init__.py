"""The controller side: creating runs and (later) the reconcile loop."""
