"""What one frame shows: `Analyzer` runs the registered per-frame stages (vision/stages: the driver's face, then
each measure of it) and turns a frame into a `FrameResult`; around them, the detector plugins, the video face
stage, the seat rule, the face mesh and the ONNX sessions they use.

Second room of the data flow: frames -> vision -> driver -> publish.
"""
