"""What one frame shows: the driver's face (detector plugins, the video face stage, the seat rule), the chest
region below it, and the ONNX classifiers run on both; `Analyzer` turns a frame into a `FrameResult`.

Second room of the data flow: frames -> vision -> driver -> publish.
"""
