"""The driver over time: per-frame results smoothed into a state, and the numbered events a dashboard acts on.

Third room of the data flow: frames -> vision -> driver -> publish.
"""
