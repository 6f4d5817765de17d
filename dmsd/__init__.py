"""dmsd: driver monitoring daemon for the edge."""

__version__ = "0.1.0"
