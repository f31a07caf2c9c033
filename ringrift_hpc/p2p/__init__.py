"""Peer-to-peer fallback mode: nodes elect a coordinator and pull jobs over signed HTTP."""
