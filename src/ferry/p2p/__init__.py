"""Peer-to-peer model distribution (seed 002): torrents of model files, the tracker."""
