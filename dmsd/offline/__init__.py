"""Offline helpers for `dmsd evaluate`, `dmsd bench`, training and the scripts: labelled datasets, classification
metrics and timing studies. The daemon's hot path never imports this package (a test holds it to that).
"""
