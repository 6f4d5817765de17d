"""Where frames come from: cameras, streams, video files and image directories, and reading still images safely.

First room of the data flow: frames -> vision -> driver -> publish. Imports nothing of the rooms after it.
"""
