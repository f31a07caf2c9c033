"""Job functions the controller submits: selfplay and training, each `run(spec)` on a frozen spec."""
